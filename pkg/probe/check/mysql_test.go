package check

import (
	"encoding/binary"
	"io"
	"net"
	"strings"
	"sync"
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

// mysqlGreeting is a HandshakeV10 announcing the capability flags caps;
// with long false it ends after their lower 2 bytes, as a greeting before
// MySQL 4.1 does.
func mysqlGreeting(caps uint32, long bool) string {
	p := "\x0a8.0.36\x00\x09\x00\x00\x00abcdefgh\x00" + string(binary.LittleEndian.AppendUint16(nil, uint16(caps)))
	if long {
		p += "\xff\x02\x00" + string(binary.LittleEndian.AppendUint16(nil, uint16(caps>>16))) +
			"\x15" + strings.Repeat("\x00", 10) + "ijklmnopqrst\x00caching_sha2_password\x00"
	}
	return mysqlPacket(0, p)
}

// mysqlErr is an ERR packet as a server sends it before the handshake:
// the code, then the message, without a SQLSTATE.
func mysqlErr(code uint16, msg string) string {
	return mysqlErrSeq(0, code, msg)
}

// mysqlErrSeq is an ERR packet as packet number seq.
func mysqlErrSeq(seq byte, code uint16, msg string) string {
	return mysqlPacket(seq, "\xff"+string([]byte{byte(code), byte(code >> 8)})+msg)
}

// mysqlOK is the OK packet of an accepted login, as packet number seq:
// no rows, no insert id, autocommit, no warnings.
func mysqlOK(seq byte) string { return mysqlPacket(seq, "\x00\x00\x00\x02\x00\x00\x00") }

// mysqlSwitch is an AuthSwitchRequest to caching_sha2_password, as packet
// 2: MySQL 8's answer to a login for an account of that method.
var mysqlSwitch = mysqlPacket(2, "\xfecaching_sha2_password\x00ABCDEFGHIJKLMNOPQRST\x00")

// mysqlDenied is MariaDB's answer to the probe's login where no account of
// its name (or one with a password) matches its host.
var mysqlDenied = mysqlErrSeq(2, 1045, "#28000Access denied for user 'crddemo-probe'@'10.250.0.1' (using password: NO)")

// The packets the probe sends after a greeting that announces the 4.1
// protocol, secure connection and plugin auth: its login (packet 1: those
// three flags and no other, a 4 KiB packet bound, utf8_general_ci, the
// filler, the user name, an empty auth response and the method it is
// for), the empty response to an AuthSwitchRequest (packet 3) and
// COM_QUIT.
const (
	wantLogin = "\x45\x00\x00\x01" + "\x00\x82\x08\x00" + "\x00\x10\x00\x00" + "\x21" + "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
		"crddemo-probe\x00" + "\x00" + "mysql_native_password\x00"
	wantSwitchResponse = "\x00\x00\x00\x03"
	wantQuit           = "\x01\x00\x00\x00\x01"
)

// mysqlConn records what a fake server read from the probe on its last
// connection: the packets it answered, then everything until the probe
// closed; and how many connections it saw end.
type mysqlConn struct {
	mu      sync.Mutex
	packets []string
	after   string
	closed  int
}

// fakeMySQL sends greeting, then reads one packet of the probe per answer
// and sends the answer, and records in rec what the probe sent until it
// closed.
func fakeMySQL(rec *mysqlConn, greeting string, answers ...string) func(net.Conn) {
	return func(c net.Conn) {
		var packets []string
		var after []byte
		defer func() {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			rec.packets = packets
			rec.after = string(after)
			rec.closed++
		}()
		if _, err := c.Write([]byte(greeting)); err != nil {
			return
		}
		for _, a := range answers {
			var head [4]byte
			if _, err := io.ReadFull(c, head[:]); err != nil {
				return
			}
			payload := make([]byte, int(head[0])|int(head[1])<<8|int(head[2])<<16)
			if _, err := io.ReadFull(c, payload); err != nil {
				return
			}
			packets = append(packets, string(head[:])+string(payload))
			if _, err := c.Write([]byte(a)); err != nil {
				return
			}
		}
		after, _ = io.ReadAll(c)
	}
}

func TestMySQLCheck(t *testing.T) {
	probe := Spec{Kind: KindMySQL}
	// greet sends the first packet without reading anything, as a
	// server does, and waits for the probe to close: after a greeting,
	// a server that never answers the login.
	greet := func(first string) func(net.Conn) { return answer(0, first) }
	var rec mysqlConn
	login := func(answers ...string) func(net.Conn) { return fakeMySQL(&rec, mariadbGreeting, answers...) }
	runProtocolCases(t, []protocolCase{
		// The greeting is the verdict; the login's outcome is not.
		{name: "greeting, login accepted", handle: login(mysqlOK(2)), spec: probe},
		{name: "greeting, access denied", handle: login(mysqlDenied), spec: probe},
		{name: "greeting, account locked", handle: login(mysqlErrSeq(2, 4151, "#HY000Access denied, this account is locked")), spec: probe},
		{name: "greeting, auth switch, accepted", handle: login(mysqlSwitch, mysqlOK(4)), spec: probe},
		{name: "greeting, auth switch, denied", handle: login(mysqlSwitch, mysqlErrSeq(4, 1045, "#28000Access denied")), spec: probe},
		{name: "greeting, a second auth switch", handle: login(mysqlSwitch, mysqlPacket(4, "\xfeother\x00")), spec: probe},
		{name: "greeting, more auth data asked", handle: login(mysqlPacket(2, "\x01\x04")), spec: probe},
		{name: "greeting, then not MySQL", handle: login("HTTP/1.1 400 Bad Request\r\n\r\n"), spec: probe},
		{name: "greeting, then closed", handle: func(c net.Conn) { _, _ = c.Write([]byte(mariadbGreeting)) }, spec: probe},
		{name: "greeting, then a packet longer than the bound", handle: func(c net.Conn) {
			_, _ = c.Write([]byte(mariadbGreeting))
			endless("\xff\xff\xff\x02")(c)
		}, spec: probe},
		// A packet within the bound, but past what is left of it after
		// the greeting.
		{name: "greeting, then more than the bound", handle: func(c net.Conn) {
			_, _ = c.Write([]byte(mariadbGreeting))
			endless("\x00\x10\x00\x02" + strings.Repeat("A", 1020))(c)
		}, spec: probe},
		// A server that stalls the login holds the probe until its
		// deadline, and no longer; the greeting's verdict stands.
		{name: "greeting, then silence", handle: greet(mariadbGreeting), spec: probe, timeout: silentTimeout},
		{name: "too many connections", handle: greet(mysqlErr(1040, "Too many connections")), spec: probe, want: "MySQL 1040: Too many connections"},
		{name: "host not allowed", handle: greet(mysqlErr(1130, "Host '10.250.0.1' is not allowed to connect to this MariaDB server")),
			spec: probe, want: "MySQL 1130: Host '10.250.0.1' is not allowed to connect to this MariaDB server"},
		{name: "host blocked", handle: greet(mysqlErr(1129, "Host '10.250.0.1' is blocked because of many connection errors; unblock with 'mariadb-admin flush-hosts'")),
			spec: probe, want: "MySQL 1129: Host '10.250.0.1' is blocked because of many connection errors; unblock with 'mariadb-admin flush-hosts'"},
		{name: "error with a SQLSTATE", handle: greet(mysqlErr(1040, "#08004Too many connections")), spec: probe, want: "MySQL 1040: Too many connections"},
		{name: "error without a code", handle: greet(mysqlPacket(0, "\xff\x10")), spec: probe, want: msgNotMySQL},
		{name: "first packet numbered 1", handle: greet(mysqlPacket(1, mariadbGreeting[4:])), spec: probe, want: msgNotMySQL},
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

// TestMySQLLogin: after a greeting the probe logs in as crddemo-probe with
// an empty auth response and nothing else (no TLS, no database), answers
// an AuthSwitchRequest with an empty response, and ends a session the
// server let it into with COM_QUIT; after an ERR it sends nothing more. It
// uses only the flags the server announces, and does not log in to a
// server without the 4.1 protocol.
func TestMySQLLogin(t *testing.T) {
	noPlugin := mysqlClientProtocol41 | mysqlClientSecureConnection | 0x0800 // and CLIENT_SSL
	for _, tc := range []struct {
		name     string
		greeting string
		answers  []string
		// want is what the server read: the packets it answered, then
		// what came until the probe closed.
		want  []string
		after string
	}{
		{name: "accepted", greeting: mariadbGreeting, answers: []string{mysqlOK(2)},
			want: []string{wantLogin}, after: wantQuit},
		{name: "access denied", greeting: mariadbGreeting, answers: []string{mysqlDenied},
			want: []string{wantLogin}},
		{name: "auth switch, accepted", greeting: mariadbGreeting, answers: []string{mysqlSwitch, mysqlOK(4)},
			want: []string{wantLogin, wantSwitchResponse}, after: wantQuit},
		{name: "auth switch, denied", greeting: mariadbGreeting, answers: []string{mysqlSwitch, mysqlErrSeq(4, 1045, "#28000Access denied")},
			want: []string{wantLogin, wantSwitchResponse}},
		{name: "an OK out of sequence", greeting: mariadbGreeting, answers: []string{mysqlOK(3)},
			want: []string{wantLogin}},
		{name: "no plugin auth", greeting: mysqlGreeting(uint32(noPlugin), true), answers: []string{mysqlOK(2)},
			want:  []string{"\x2f\x00\x00\x01" + "\x00\x82\x00\x00" + "\x00\x10\x00\x00" + "\x21" + strings.Repeat("\x00", 23) + "crddemo-probe\x00" + "\x00"},
			after: wantQuit},
		{name: "a greeting before 4.1", greeting: mysqlGreeting(mysqlClientSecureConnection, false)},
		{name: "a greeting cut before its flags", greeting: mysqlPacket(0, "\x0a8.0.36\x00\x09\x00\x00\x00abcdefgh\x00")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rec mysqlConn
			addr := probetest.ServeTCP(t, fakeMySQL(&rec, tc.greeting, tc.answers...))
			c, err := New(Spec{Kind: KindMySQL}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if msg := runCheck(t, c, mustAddrPort(t, addr)); msg != "" {
				t.Fatal(msg)
			}
			probetest.Eventually(t, "the server to see the probe close", func() bool {
				rec.mu.Lock()
				defer rec.mu.Unlock()
				return rec.closed == 1
			})
			rec.mu.Lock()
			defer rec.mu.Unlock()
			got := rec.packets[:min(len(rec.packets), len(tc.want))]
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("the probe sent %q, want %q", rec.packets, tc.want)
			}
			if rec.after != tc.after {
				t.Errorf("then %q, want %q", rec.after, tc.after)
			}
		})
	}
}
