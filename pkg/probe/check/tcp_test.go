package check

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crddemo/crddemo/pkg/probe/internal/probetest"
)

// checkTimeout bounds one check in these tests; a check that should fail
// fast (refused, wrong status) takes microseconds on loopback.
const checkTimeout = 5 * time.Second

func mustAddrPort(t testing.TB, s string) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

// runCheck runs c once with checkTimeout and returns the message ("" on
// success).
func runCheck(t testing.TB, c Checker, addr netip.AddrPort) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	if err := c.Check(ctx, addr); err != nil {
		return err.Error()
	}
	return ""
}

func TestTCPCheck(t *testing.T) {
	c := NewTCP()
	if msg := runCheck(t, c, mustAddrPort(t, probetest.Listen(t))); msg != "" {
		t.Errorf("open port: %q", msg)
	}
	refused := mustAddrPort(t, probetest.RefusedAddress(t))
	for range 2 { // the same failure gives the same message
		if msg := runCheck(t, c, refused); msg != "connection refused" {
			t.Errorf("closed port: %q, want %q", msg, "connection refused")
		}
	}
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if err := c.Check(ctx, mustAddrPort(t, probetest.Listen(t))); err == nil || err.Error() != msgTimeout {
		t.Errorf("expired deadline: %v, want %q", err, msgTimeout)
	}
}

// TestTCPCheckLeavesNoTimeWait probes a loopback server that waits for
// the client to close first (as most servers do when the client sends
// nothing), and counts the sockets of its port left in TIME_WAIT. An
// orderly close leaves one per probe; the probe's reset leaves none.
func TestTCPCheckLeavesNoTimeWait(t *testing.T) {
	const probes = 50
	plain := &net.Dialer{}
	kubeletStyle := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = setLinger(fd, 1) })
	}}
	for _, tc := range []struct {
		name string
		dial func(ctx context.Context, addr netip.AddrPort) error
		// check: the count must be 0 (true), or must be > 0 to show the
		// measurement sees TIME_WAIT at all (false).
		wantNone bool
		logOnly  bool
	}{
		{"checker", func(ctx context.Context, a netip.AddrPort) error { return NewTCP().Check(ctx, a) }, true, false},
		{"orderly close", dialAndClose(plain), false, false},
		{"linger 1s", dialAndClose(kubeletStyle), false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := mustAddrPort(t, listenCloseAfterPeer(t))
			for range probes {
				ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
				err := tc.dial(ctx, addr)
				cancel()
				if err != nil {
					t.Fatal(err)
				}
			}
			// Give the server's goroutines time to see the close; a
			// TIME_WAIT socket stays for 60 s, so waiting cannot hide one.
			time.Sleep(100 * time.Millisecond)
			n := countTimeWait(t, addr.Port())
			t.Logf("%d probes left %d sockets in TIME_WAIT", probes, n)
			switch {
			case tc.logOnly:
			case tc.wantNone && n != 0:
				t.Errorf("%d sockets in TIME_WAIT after %d probes, want 0", n, probes)
			case !tc.wantNone && n == 0:
				t.Errorf("no socket in TIME_WAIT after %d orderly closes: the count does not work", probes)
			}
		})
	}
}

func dialAndClose(d *net.Dialer) func(ctx context.Context, a netip.AddrPort) error {
	return func(ctx context.Context, a netip.AddrPort) error {
		c, err := d.DialContext(ctx, "tcp", a.String())
		if err != nil {
			return err
		}
		return c.Close()
	}
}

// listenCloseAfterPeer starts a loopback server that reads until the
// client closes, then closes its end.
func listenCloseAfterPeer(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_, _ = io.Copy(io.Discard, c)
				_ = c.Close()
			}()
		}
	}()
	return ln.Addr().String()
}

// countTimeWait counts the IPv4 sockets in TIME_WAIT whose local or remote
// port is port, from /proc/net/tcp of the test's network namespace.
func countTimeWait(t testing.TB, port uint16) int {
	t.Helper()
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		t.Fatalf("this test reads the kernel's socket table: %v", err)
	}
	defer func() { _ = f.Close() }()
	const timeWait = "06"
	suffix := fmt.Sprintf(":%04X", port)
	n := 0
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 4 || fields[3] != timeWait {
			continue
		}
		if strings.HasSuffix(fields[1], suffix) || strings.HasSuffix(fields[2], suffix) {
			n++
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTCPSendExpect probes servers with a send and an expect, or a banner
// alone, and every failure state of the answer.
func TestTCPSendExpect(t *testing.T) {
	ping := []byte("PING\r\n")
	spec := func(send, expect string) Spec {
		return Spec{Kind: KindTCP, TCP: &TCPSpec{Send: []byte(send), Expect: []byte(expect)}}
	}
	runProtocolCases(t, []protocolCase{
		{name: "answer contains expect", handle: answer(len(ping), "+PONG\r\n"), spec: spec("PING\r\n", "+PONG")},
		{name: "answer in pieces", handle: func(c net.Conn) {
			_, _ = io.ReadFull(c, make([]byte, len(ping)))
			for _, piece := range []string{"+P", "ON", "G\r\n"} {
				_, _ = c.Write([]byte(piece))
				time.Sleep(10 * time.Millisecond)
			}
			silent(c)
		}, spec: spec("PING\r\n", "+PONG")},
		{name: "banner", handle: answer(0, "220 mail.example.com ESMTP\r\n"), spec: spec("", "220 ")},
		{name: "send only", handle: answer(len(ping), ""), spec: spec("PING\r\n", "")},
		{name: "wrong answer, then closed", handle: func(c net.Conn) {
			_, _ = io.ReadFull(c, make([]byte, len(ping)))
			_, _ = c.Write([]byte("-NOAUTH Authentication required.\r\n"))
		}, spec: spec("PING\r\n", "+PONG"), want: `expected "+PONG", got "-NOAUTH Authentication required."`},
		{name: "wrong answer, then silence", handle: answer(len(ping), "-NOAUTH Authentication required.\r\n"),
			spec: spec("PING\r\n", "+PONG"), want: `expected "+PONG", got "-NOAUTH Authentication required."`, timeout: silentTimeout},
		{name: "no answer", handle: silent, spec: spec("PING\r\n", "+PONG"), want: msgTimeout, timeout: silentTimeout},
		{name: "no banner", handle: silent, spec: spec("", "220"), want: msgTimeout, timeout: silentTimeout},
		{name: "closed at once", handle: closeAtOnce, spec: spec("", "220"), want: msgClosed},
		{name: "endless stream is read up to the bound", handle: endless("x"), spec: spec("PING\r\n", "+PONG"),
			want: `expected "+PONG", got "` + strings.Repeat("x", maxExcerptBytes) + `…"`},
		{name: "hostile bytes", handle: answer(len(ping), hostile), spec: spec("PING\r\n", "\x01+PONG"),
			want: `expected "\x01+PONG", got "\xff\x00` + strings.Repeat("A", maxExcerptBytes-8) + `…"`},
		{name: "refused", target: probetest.RefusedAddress(t), spec: spec("PING\r\n", "+PONG"), want: "connection refused"},
	})
}

// TestTCPTLS: with TLS the check passes on a completed handshake, and
// sends and expects inside TLS.
func TestTCPTLS(t *testing.T) {
	ca := newTestCA(t)
	other := newTestCA(t)
	cert := ca.issue(t, "redis.probe.test", time.Now().Add(time.Hour))
	banner := tlsTCPServer(t, cert, answer(0, "220 ready\r\n"))
	pong := tlsTCPServer(t, cert, answer(len("PING\r\n"), "+PONG\r\n"))
	plainBanner := probetest.ServeTCP(t, answer(0, "220 ready\r\n"))
	spec := func(send, expect string, tlsSpec TLSSpec) Spec {
		return Spec{Kind: KindTCP, TCP: &TCPSpec{Send: []byte(send), Expect: []byte(expect)}, TLS: &tlsSpec}
	}
	trusted := TLSSpec{ServerName: "redis.probe.test", CABundle: ca.pem}
	runProtocolCases(t, []protocolCase{
		{name: "handshake only", target: banner, spec: Spec{Kind: KindTCP, TLS: &trusted}},
		{name: "the IP address as the name", target: banner, spec: spec("", "", TLSSpec{CABundle: ca.pem})},
		{name: "banner inside TLS", target: banner, spec: spec("", "220", trusted)},
		{name: "send and expect inside TLS", target: pong, spec: spec("PING\r\n", "+PONG", trusted)},
		{name: "mismatch inside TLS", target: pong, spec: spec("PING\r\n", "+OK", trusted), want: `expected "+OK", got "+PONG"`, timeout: silentTimeout},
		{name: "another CA", target: banner, spec: spec("", "", TLSSpec{ServerName: "redis.probe.test", CABundle: other.pem}), want: msgUnknownCA},
		{name: "wrong name", target: banner, spec: spec("", "", TLSSpec{ServerName: "db.probe.test", CABundle: ca.pem}), want: "TLS: certificate is not valid for db.probe.test"},
		{name: "plain text server", target: plainBanner, spec: spec("", "", trusted), want: msgNotTLS},
	})
}

// tlsTCPServer serves handle over TLS with cert on loopback.
func tlsTCPServer(t *testing.T, cert tls.Certificate, handle func(net.Conn)) string {
	t.Helper()
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	return probetest.ServeTCP(t, func(c net.Conn) {
		tc := tls.Server(c, cfg)
		if err := tc.Handshake(); err != nil {
			return
		}
		handle(tc)
	})
}
