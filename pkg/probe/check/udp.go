package check

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"syscall"
)

// UDPSpec is the datagram of a UDP probe and what its reply must hold.
type UDPSpec struct {
	// Send is the datagram sent; required, since a UDP server answers
	// only what it is asked.
	Send []byte
	// Expect must be contained in the reply; empty means any reply.
	Expect []byte
}

// udpChecker sends one datagram on a connected socket and reads one
// back. A connected socket is what gives UDP a failure signal: the
// kernel turns an ICMP port unreachable for it into ECONNREFUSED on the
// next read. So a reply passes (when it contains expect), a port
// unreachable fails at once, and silence fails at the timeout.
type udpChecker struct {
	dial   DialFunc
	send   []byte
	expect []byte
}

func newUDPChecker(spec *UDPSpec, dial DialFunc) (Checker, error) {
	if spec == nil || len(spec.Send) == 0 {
		return nil, errors.New("udp.send is required")
	}
	if len(spec.Expect) > maxReadBytes {
		return nil, errors.New("udp.expect is longer than what a probe reads")
	}
	return &udpChecker{dial: dial, send: bytes.Clone(spec.Send), expect: bytes.Clone(spec.Expect)}, nil
}

func (c *udpChecker) Check(ctx context.Context, addr netip.AddrPort) error {
	reply, err := exchangeUDP(ctx, c.dial, addr, c.send, func([]byte) bool { return true })
	if err != nil {
		return udpFailure(ctx, err, msgUDPUnreachable, msgUDPNoReply)
	}
	if !bytes.Contains(reply, c.expect) {
		return &Error{Message: expectedGot(c.expect, reply)}
	}
	return nil
}

// exchangeUDP sends query to addr on a connected UDP socket and returns
// the first datagram that mine accepts, read into maxReadBytes (a longer
// one is cut). Datagrams mine refuses are skipped until the deadline.
func exchangeUDP(ctx context.Context, dial DialFunc, addr netip.AddrPort, query []byte, mine func([]byte) bool) ([]byte, error) {
	conn, err := openConn(ctx, dial, "udp", addr, nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close() }()
	if _, err := conn.Write(query); err != nil {
		return nil, err
	}
	buf := make([]byte, maxReadBytes)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return nil, err
		}
		if mine(buf[:n]) {
			return buf[:n], nil
		}
	}
}

// udpFailure names the two failures a UDP exchange has in its protocol's
// terms: an ICMP port unreachable, and no reply by the deadline.
func udpFailure(ctx context.Context, err error, unreachable, noReply string) *Error {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return &Error{Message: unreachable, Err: err}
	}
	f := failure(ctx, err)
	if f.Message == msgTimeout {
		return &Error{Message: noReply, Err: err}
	}
	return f
}
