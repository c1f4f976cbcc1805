package probe

import (
	"context"
	"net"
	"net/netip"
)

// tcpChecker passes when a TCP connection is accepted.
type tcpChecker struct {
	dialer *net.Dialer
}

// NewTCPChecker returns a Checker that opens a TCP connection and closes
// it at once, with a reset (see newDialer): an accepted connection is all
// it wants to know.
func NewTCPChecker() Checker {
	return &tcpChecker{dialer: newDialer()}
}

func (c *tcpChecker) Check(ctx context.Context, addr netip.AddrPort) error {
	conn, err := c.dialer.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return newCheckError(err)
	}
	// A failing Close says nothing about whether the peer accepted.
	_ = conn.Close()
	return nil
}
