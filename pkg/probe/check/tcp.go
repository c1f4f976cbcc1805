package check

import (
	"context"
	"net/netip"
)

// tcpChecker passes when a TCP connection is accepted.
type tcpChecker struct {
	dial DialFunc
}

// NewTCP returns a Checker that opens a TCP connection and closes
// it at once, with a reset (see NewDialer): an accepted connection is all
// it wants to know.
func NewTCP() Checker {
	return &tcpChecker{dial: NewDialer().DialContext}
}

func (c *tcpChecker) Check(ctx context.Context, addr netip.AddrPort) error {
	conn, err := c.dial(ctx, "tcp", addr.String())
	if err != nil {
		return wrapError(err)
	}
	// A failing Close says nothing about whether the peer accepted.
	if conn != nil {
		_ = conn.Close()
	}
	return nil
}
