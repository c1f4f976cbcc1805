package check

import (
	"context"
	"encoding/binary"
	"io"
	"net/netip"
	"strconv"
)

// mysqlProbeUser is the user name the probe logs in with, with no
// password. An account of that name is optional: the server's answer to
// the login, whatever it is, does not change the verdict.
const mysqlProbeUser = "crddemo-probe"

// The first byte of a packet's payload that the probe tells apart.
const (
	// mysqlHandshakeV10 starts Protocol::HandshakeV10, the greeting of
	// every server since MySQL 3.21.
	mysqlHandshakeV10 = 0x0a
	// mysqlErrPacket starts an ERR_Packet: a 2-byte error code, then
	// (with a '#' marker) a 5-byte SQLSTATE, then the message. Before
	// the handshake a server sends it without the SQLSTATE.
	mysqlErrPacket = 0xff
	// mysqlOKPacket starts the OK_Packet of a login the server accepted.
	mysqlOKPacket = 0x00
	// mysqlAuthSwitch starts an AuthSwitchRequest: the server asks for
	// the login's auth response again, for another auth method.
	mysqlAuthSwitch = 0xfe
	// mysqlComQuit is the command that ends a session.
	mysqlComQuit = 0x01
)

// Capability flags (Protocol::CapabilityFlags) the probe's login uses,
// each only when the server's greeting announces it.
const (
	// mysqlClientProtocol41 is the 4.1 protocol, which HandshakeResponse41
	// is part of; a server without it gets no login.
	mysqlClientProtocol41 = 0x00000200
	// mysqlClientSecureConnection puts a length before the auth response.
	mysqlClientSecureConnection = 0x00008000
	// mysqlClientPluginAuth names the auth method of the auth response,
	// and lets the server switch to another one.
	mysqlClientPluginAuth = 0x00080000
)

// The login's other fields.
const (
	// mysqlCharsetUTF8 is utf8_general_ci (33), which every server since
	// MySQL 4.1 and every MariaDB knows; the user name is ASCII.
	mysqlCharsetUTF8 = 33
	// mysqlNativePassword is the auth method the empty auth response is
	// for; a server whose account uses another switches to it.
	mysqlNativePassword = "mysql_native_password"
	// mysqlFillerBytes is the reserved run of zeros after the character
	// set.
	mysqlFillerBytes = 23
)

// mysqlQuit is COM_QUIT, the first (sequence 0) packet of the command
// phase: it ends a session the server let the probe log in to.
var mysqlQuit = []byte{1, 0, 0, 0, mysqlComQuit}

// mysqlChecker reads the server's greeting, which is the verdict: a
// protocol 10 handshake passes; an ERR packet instead of it, such as 1040
// Too many connections, 1129 host blocked or 1130 host not allowed, fails
// with its code and message.
//
// After a greeting the probe logs in as mysqlProbeUser with no password
// (and answers one AuthSwitchRequest with an empty auth response too),
// reads the server's answer and, when it is an OK, sends COM_QUIT. MySQL
// and MariaDB count a connection that ends during the handshake as a
// handshake error of the client's host and block the host (1129) after
// max_connect_errors of them in a row; a connection whose login the server
// judged, accepted or not (1045 Access denied), is no such error. The
// login is best effort within what is left of the probe's deadline and
// read bound: whatever the server answers, or if it answers nothing before
// the deadline, the greeting's verdict stands.
type mysqlChecker struct {
	dial DialFunc
}

func (c *mysqlChecker) Check(ctx context.Context, addr netip.AddrPort) error {
	conn, err := openConn(ctx, c.dial, "tcp", addr, nil)
	if err != nil {
		return failure(ctx, err)
	}
	defer func() { _ = conn.Close() }()
	r := &boundedReader{r: conn, left: maxReadBytes}
	greeting, err := readMySQLPacket(ctx, r, 0)
	if err != nil {
		return err
	}
	switch greeting[0] {
	case mysqlHandshakeV10:
		mysqlLogin(ctx, conn, r, greeting)
		return nil
	case mysqlErrPacket:
		if len(greeting) < 3 {
			return &Error{Message: msgNotMySQL}
		}
		return &Error{Message: mysqlError(binary.LittleEndian.Uint16(greeting[1:3]), greeting[3:])}
	default:
		return &Error{Message: msgNotMySQL}
	}
}

// readMySQLPacket reads one packet, which must carry sequence number seq:
// a 3-byte little-endian payload length, the sequence number, the
// payload. It returns the payload, which is never empty.
func readMySQLPacket(ctx context.Context, r io.Reader, seq byte) ([]byte, error) {
	var head [4]byte
	if n, err := io.ReadFull(r, head[:]); err != nil {
		return nil, readFailure(ctx, err, n, msgNotMySQL)
	}
	size := int(head[0]) | int(head[1])<<8 | int(head[2])<<16
	if size == 0 || size > maxReadBytes || head[3] != seq {
		return nil, &Error{Message: msgNotMySQL}
	}
	payload := make([]byte, size)
	if n, err := io.ReadFull(r, payload); err != nil {
		return nil, readFailure(ctx, err, len(head)+n, msgNotMySQL)
	}
	return payload, nil
}

// mysqlLogin logs in after greeting (a HandshakeV10 payload) as
// mysqlProbeUser with an empty auth response, answers one
// AuthSwitchRequest the same way, and quits a session the server
// accepted. It is best effort: an error ends it, and none changes the
// probe's verdict. A server whose greeting lacks the 4.1 protocol gets no
// login.
func mysqlLogin(ctx context.Context, conn io.Writer, r io.Reader, greeting []byte) {
	flags, ok := mysqlServerCapabilities(greeting)
	if !ok || flags&mysqlClientProtocol41 == 0 {
		return
	}
	flags &= mysqlClientProtocol41 | mysqlClientSecureConnection | mysqlClientPluginAuth
	if _, err := conn.Write(mysqlHandshakeResponse(flags)); err != nil {
		return
	}
	// The server's answers continue the sequence: the greeting was 0,
	// the login 1.
	answer, err := readMySQLPacket(ctx, r, 2)
	if err != nil {
		return
	}
	if answer[0] == mysqlAuthSwitch && flags&mysqlClientPluginAuth != 0 {
		// AuthSwitchResponse: the auth response alone, now empty.
		if _, err := conn.Write([]byte{0, 0, 0, 3}); err != nil {
			return
		}
		if answer, err = readMySQLPacket(ctx, r, 4); err != nil {
			return
		}
	}
	if answer[0] == mysqlOKPacket {
		_, _ = conn.Write(mysqlQuit)
	}
	// An ERR (1045 Access denied, an account locked) ends the
	// connection on the server's side; anything else (a second switch,
	// a request for more auth data) the probe has nothing to answer.
}

// mysqlServerCapabilities returns the capability flags of a HandshakeV10
// payload: after the protocol version, the server version (NUL ended), the
// connection id (4 bytes), the first 8 bytes of auth data and a filler
// byte, the lower 2 bytes of the flags; then, in a 4.1 greeting, the
// character set, the status flags (2 bytes) and the upper 2 bytes.
func mysqlServerCapabilities(greeting []byte) (uint32, bool) {
	i := 1
	for i < len(greeting) && greeting[i] != 0 {
		i++
	}
	i += 1 + 4 + 8 + 1
	if i+2 > len(greeting) {
		return 0, false
	}
	flags := uint32(binary.LittleEndian.Uint16(greeting[i:]))
	i += 2 + 1 + 2
	if i+2 <= len(greeting) {
		flags |= uint32(binary.LittleEndian.Uint16(greeting[i:])) << 16
	}
	return flags, true
}

// mysqlHandshakeResponse is the probe's login, a HandshakeResponse41 as
// packet 1: the client's flags (no CLIENT_SSL, no database, no
// attributes), the largest packet it takes (its read bound), the character
// set, the filler, the user name, an empty auth response and, with
// CLIENT_PLUGIN_AUTH, the auth method it is for.
func mysqlHandshakeResponse(flags uint32) []byte {
	p := []byte{0, 0, 0, 1}
	p = binary.LittleEndian.AppendUint32(p, flags)
	p = binary.LittleEndian.AppendUint32(p, maxReadBytes)
	p = append(p, mysqlCharsetUTF8)
	p = append(p, make([]byte, mysqlFillerBytes)...)
	p = append(append(p, mysqlProbeUser...), 0)
	// The empty auth response: its length, 0, with
	// CLIENT_SECURE_CONNECTION; an empty NUL-ended string without.
	p = append(p, 0)
	if flags&mysqlClientPluginAuth != 0 {
		p = append(append(p, mysqlNativePassword...), 0)
	}
	n := len(p) - 4
	p[0], p[1], p[2] = byte(n), byte(n>>8), byte(n>>16)
	return p
}

// mysqlError is the message of an ERR packet: "MySQL", the code and the
// server's text, such as "MySQL 1040: Too many connections".
func mysqlError(code uint16, rest []byte) string {
	if len(rest) >= 6 && rest[0] == '#' {
		rest = rest[6:]
	}
	return Bound("MySQL "+strconv.Itoa(int(code))+": "+string(rest), MaxMessageBytes)
}
