package check

import (
	"context"
	"net/netip"
)

// TCPSpec is what a TCP probe does once connected. Both empty means a
// connect only.
type TCPSpec struct {
	// Send is written after the connection (and the TLS handshake) is
	// made; empty means nothing is sent.
	Send []byte
	// Expect must be contained in what the server sends, read up to
	// maxExpectReadBytes; empty means nothing is read. Without Send it
	// is a banner, such as SMTP's "220".
	Expect []byte
}

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
