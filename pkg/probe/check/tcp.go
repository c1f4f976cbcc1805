package check

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net/netip"
)

// TCPSpec is what a TCP probe does once connected. Both empty means a
// connect only.
type TCPSpec struct {
	// Send is written after the connection (and the TLS handshake) is
	// made; empty means nothing is sent.
	Send []byte
	// Expect must be contained in what the server sends, read up to
	// maxReadBytes within the timeout; empty means nothing is read.
	// Without Send it is a banner, such as SMTP's "220".
	Expect []byte
}

// tcpChecker passes when a TCP connection is accepted (and, with TLS,
// the handshake completes), and then, when set, when the server's answer
// to send contains expect.
type tcpChecker struct {
	dial   DialFunc
	tls    *tls.Config // nil: plain TCP
	send   []byte
	expect []byte
}

// NewTCP returns a Checker that opens a TCP connection and closes
// it at once, with a reset (see NewDialer): an accepted connection is all
// it wants to know.
func NewTCP() Checker {
	return &tcpChecker{dial: NewDialer().DialContext}
}

func newTCPChecker(spec *TCPSpec, tlsSpec *TLSSpec, dial DialFunc) (Checker, error) {
	c := &tcpChecker{dial: dial}
	if spec != nil {
		// Copies, so that the caller's spec stays as it was given.
		c.send = bytes.Clone(spec.Send)
		c.expect = bytes.Clone(spec.Expect)
	}
	if len(c.expect) > maxReadBytes {
		return nil, errors.New("tcp.expect is longer than what a probe reads")
	}
	var err error
	if c.tls, err = tlsSpec.streamConfig(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *tcpChecker) Check(ctx context.Context, addr netip.AddrPort) error {
	conn, err := openConn(ctx, c.dial, "tcp", addr, c.tls)
	if err != nil {
		return failure(ctx, err)
	}
	// A failing Close says nothing about whether the peer accepted.
	defer func() { _ = conn.Close() }()
	if len(c.send) > 0 {
		if _, err := conn.Write(c.send); err != nil {
			return failure(ctx, err)
		}
	}
	if len(c.expect) == 0 {
		return nil
	}
	return readExpect(ctx, conn, c.expect)
}

// readExpect reads from conn until what arrived contains expect, up to
// maxReadBytes. An answer without it fails with what came (once the
// server closes, the bound is reached or the time is up); no answer at
// all fails with the reason, such as a timeout.
func readExpect(ctx context.Context, conn *probeConn, expect []byte) error {
	buf := make([]byte, 0, maxReadBytes)
	for {
		n, err := conn.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if bytes.Contains(buf, expect) {
			return nil
		}
		if len(buf) == cap(buf) {
			return &Error{Message: expectedGot(expect, buf)}
		}
		if err != nil {
			if len(buf) > 0 {
				return &Error{Message: expectedGot(expect, buf), Err: err}
			}
			return failure(ctx, err)
		}
	}
}
