package check

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"time"
)

// maxReadBytes bounds what a protocol check (TCP send/expect, Redis,
// PostgreSQL, MySQL, UDP, DNS) reads of one probe's answers: each
// decides on a few dozen bytes, and a target must not be able to make
// the controller buffer or wait for more.
const maxReadBytes = 4 << 10

// probeConn is one probe's connection, tied to the probe's context:
// every read and write ends at the context's deadline, and at once when
// the context is cancelled, so a server that accepts and never answers
// holds the probe until its timeout and no longer.
type probeConn struct {
	net.Conn
	stop func() bool
}

// openConn dials network ("tcp" or "udp") to addr through dial and ties
// the connection to ctx. With cfg != nil it then makes a TLS handshake,
// naming addr's IP address when cfg has no server name (as the gRPC
// check does), and records the chain the server presented in ctx's
// CertRecorder. The caller closes the connection.
func openConn(ctx context.Context, dial DialFunc, network string, addr netip.AddrPort, cfg *tls.Config) (*probeConn, error) {
	conn, err := dial(ctx, network, addr.String())
	if err != nil {
		return nil, err
	}
	if d, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(d); err != nil {
			_ = conn.Close()
			return nil, err
		}
	}
	// A deadline in the past wakes every blocked read and write.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	if cfg == nil {
		return &probeConn{Conn: conn, stop: stop}, nil
	}
	if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
		cfg = cfg.Clone()
		cfg.ServerName = addr.Addr().WithZone("").String()
	}
	tc := tls.Client(conn, cfg)
	rec := certRecorderOf(ctx)
	if err := tc.HandshakeContext(ctx); err != nil {
		rec.recordHandshake(nil, err)
		stop()
		_ = conn.Close()
		return nil, err
	}
	state := tc.ConnectionState()
	rec.recordHandshake(&state, nil)
	return &probeConn{Conn: tc, stop: stop}, nil
}

// Close closes the connection; with the probe dialer's SO_LINGER of 0 a
// TCP connection is reset (see NewDialer).
func (c *probeConn) Close() error {
	c.stop()
	return c.Conn.Close()
}

// errAnswerTooLong ends the reads of a probe whose answers go past
// maxReadBytes.
var errAnswerTooLong = errors.New("the answer is longer than a probe reads")

// boundedReader reads at most left bytes, then fails with
// errAnswerTooLong (not io.EOF, which would read as the server closing).
type boundedReader struct {
	r    io.Reader
	left int
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errAnswerTooLong
	}
	if len(p) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= n
	return n, err
}

// readFailure is the Error of a read that ended before a whole answer
// arrived, got bytes into it: the probe's end (a timeout, a
// cancellation; the connection's deadline may pass a moment before the
// context's), or with nothing read the reason (the server closed);
// otherwise the answer was not one of the protocol (notProto): cut
// short, or longer than the bound.
func readFailure(ctx context.Context, err error, got int, notProto string) *Error {
	if ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) || (got == 0 && !errors.Is(err, errAnswerTooLong)) {
		return failure(ctx, err)
	}
	return &Error{Message: notProto, Err: err}
}

// failure is the Error of a failed read, write or dial: when the
// probe's context has ended, that is the cause (a timeout or a
// cancellation), whatever the connection reported.
func failure(ctx context.Context, err error) *Error {
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		return &Error{Message: Describe(ctxErr), Err: errors.Join(ctxErr, err)}
	}
	return wrapError(err)
}
