package check

import (
	"context"
	"encoding/binary"
	"io"
	"net/netip"
	"strconv"
)

// The first byte of the first packet a MySQL or MariaDB server sends.
const (
	// mysqlHandshakeV10 starts Protocol::HandshakeV10, the greeting of
	// every server since MySQL 3.21.
	mysqlHandshakeV10 = 0x0a
	// mysqlErrPacket starts an ERR_Packet: a 2-byte error code, then
	// (with a '#' marker) a 5-byte SQLSTATE, then the message. Before
	// the handshake a server sends it without the SQLSTATE.
	mysqlErrPacket = 0xff
)

// mysqlChecker reads the server's greeting and closes: a protocol 10
// handshake passes; an ERR packet, such as 1040 Too many connections,
// 1129 host blocked or 1130 host not allowed, fails with its code and
// message. It sends nothing, so it needs no account: a server with no
// account for the prober's host answers 1130 instead of the greeting.
type mysqlChecker struct {
	dial DialFunc
}

func (c *mysqlChecker) Check(ctx context.Context, addr netip.AddrPort) error {
	conn, err := openConn(ctx, c.dial, "tcp", addr, nil)
	if err != nil {
		return failure(ctx, err)
	}
	defer func() { _ = conn.Close() }()
	// A packet: a 3-byte little-endian payload length, a sequence
	// number, the payload.
	var head [4]byte
	if n, err := io.ReadFull(conn, head[:]); err != nil {
		return readFailure(ctx, err, n, msgNotMySQL)
	}
	size := int(head[0]) | int(head[1])<<8 | int(head[2])<<16
	if size == 0 || size > maxReadBytes || head[3] != 0 {
		return &Error{Message: msgNotMySQL}
	}
	payload := make([]byte, size)
	if n, err := io.ReadFull(conn, payload); err != nil {
		return readFailure(ctx, err, len(head)+n, msgNotMySQL)
	}
	switch payload[0] {
	case mysqlHandshakeV10:
		return nil
	case mysqlErrPacket:
		if len(payload) < 3 {
			return &Error{Message: msgNotMySQL}
		}
		return &Error{Message: mysqlError(binary.LittleEndian.Uint16(payload[1:3]), payload[3:])}
	default:
		return &Error{Message: msgNotMySQL}
	}
}

// mysqlError is the message of an ERR packet: "MySQL", the code and the
// server's text, such as "MySQL 1040: Too many connections".
func mysqlError(code uint16, rest []byte) string {
	if len(rest) >= 6 && rest[0] == '#' {
		rest = rest[6:]
	}
	return Bound("MySQL "+strconv.Itoa(int(code))+": "+string(rest), MaxMessageBytes)
}
