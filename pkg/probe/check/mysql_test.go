package check

import (
	"net"
	"testing"

	"github.com/crddemo/crddemo/pkg/probe/internal/probetest"
)

// mysqlPacket frames payload as the server's packet number seq.
func mysqlPacket(seq byte, payload string) string {
	n := len(payload)
	return string([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}) + payload
}

// mariadbGreeting is the start of a MariaDB 10.11 Protocol::HandshakeV10:
// version 10, the server version, the thread id and the first scramble.
var mariadbGreeting = mysqlPacket(0, "\x0a5.5.5-10.11.6-MariaDB-0+deb12u1\x00\x2a\x00\x00\x00abcdefgh\x00\xfe\xf7\x2d\x02\x00\xff\x81\x15\x00\x00\x00\x00\x00\x00\x1d\x00\x00\x00ijklmnopqrst\x00mysql_native_password\x00")

// mysqlErr is an ERR packet as a server sends it before the handshake:
// the code, then the message, without a SQLSTATE.
func mysqlErr(code uint16, msg string) string {
	return mysqlPacket(0, "\xff"+string([]byte{byte(code), byte(code >> 8)})+msg)
}

func TestMySQLCheck(t *testing.T) {
	probe := Spec{Kind: KindMySQL}
	// greet sends the first packet without reading anything, as a
	// server does, and waits for the probe to close.
	greet := func(first string) func(net.Conn) { return answer(0, first) }
	runProtocolCases(t, []protocolCase{
		{name: "greeting", handle: greet(mariadbGreeting), spec: probe},
		{name: "too many connections", handle: greet(mysqlErr(1040, "Too many connections")), spec: probe, want: "MySQL 1040: Too many connections"},
		{name: "host not allowed", handle: greet(mysqlErr(1130, "Host '10.250.0.1' is not allowed to connect to this MariaDB server")),
			spec: probe, want: "MySQL 1130: Host '10.250.0.1' is not allowed to connect to this MariaDB server"},
		{name: "host blocked", handle: greet(mysqlErr(1129, "Host '10.250.0.1' is blocked because of many connection errors; unblock with 'mariadb-admin flush-hosts'")),
			spec: probe, want: "MySQL 1129: Host '10.250.0.1' is blocked because of many connection errors; unblock with 'mariadb-admin flush-hosts'"},
		{name: "error with a SQLSTATE", handle: greet(mysqlErr(1040, "#08004Too many connections")), spec: probe, want: "MySQL 1040: Too many connections"},
		{name: "error without a code", handle: greet(mysqlPacket(0, "\xff\x10")), spec: probe, want: msgNotMySQL},
		{name: "protocol 9", handle: greet(mysqlPacket(0, "\x093.20\x00")), spec: probe, want: msgNotMySQL},
		{name: "not MySQL", handle: greet("SSH-2.0-OpenSSH_9.2p1\r\n"), spec: probe, want: msgNotMySQL},
		{name: "empty packet", handle: greet(mysqlPacket(0, "")), spec: probe, want: msgNotMySQL},
		{name: "a packet longer than the bound", handle: endless("\xff\xff\xff\x00"), spec: probe, want: msgNotMySQL},
		{name: "no greeting", handle: silent, spec: probe, want: msgTimeout, timeout: silentTimeout},
		{name: "half a greeting", handle: greet(mariadbGreeting[:20]), spec: probe, want: msgTimeout, timeout: silentTimeout},
		{name: "closed mid-greeting", handle: func(c net.Conn) { _, _ = c.Write([]byte(mariadbGreeting[:20])) }, spec: probe, want: msgNotMySQL},
		{name: "closed at once", handle: closeAtOnce, spec: probe, want: msgClosed},
		{name: "hostile message", handle: greet(mysqlErr(1040, hostile)), spec: probe, want: hostileBounded("MySQL 1040: ")},
		{name: "refused", target: probetest.RefusedAddress(t), spec: probe, want: "connection refused"},
	})
}
