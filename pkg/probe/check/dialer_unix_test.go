//go:build unix

package check

import (
	"context"
	"net"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// lingerOf reads SO_LINGER of conn's socket.
func lingerOf(t *testing.T, conn net.Conn) *unix.Linger {
	t.Helper()
	rc, err := conn.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var l *unix.Linger
	var sockErr error
	if err := rc.Control(func(fd uintptr) {
		l, sockErr = unix.GetsockoptLinger(int(fd), unix.SOL_SOCKET, unix.SO_LINGER)
	}); err != nil {
		t.Fatal(err)
	}
	if sockErr != nil {
		t.Fatal(sockErr)
	}
	return l
}

// TestDialerLinger: the probe dialer resets TCP connections on close
// (SO_LINGER on, 0 s) and leaves UDP sockets, which the UDP and DNS
// checks dial with it, as they are.
func TestDialerLinger(t *testing.T) {
	d := NewDialer()
	for _, tc := range []struct {
		network, addr string
		wantOn        int32
	}{
		{"tcp", listenTCP(t), 1},
		{"udp", serveUDP(t, echo), 0},
	} {
		t.Run(tc.network, func(t *testing.T) {
			conn, err := d.DialContext(context.Background(), tc.network, tc.addr)
			if err != nil {
				t.Fatalf("dial %s: %v", tc.network, err)
			}
			defer func() { _ = conn.Close() }()
			if l := lingerOf(t, conn); l.Onoff != tc.wantOn || l.Linger != 0 {
				t.Errorf("SO_LINGER %+v, want on=%d, 0 s", *l, tc.wantOn)
			}
		})
	}
}

func listenTCP(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln.Addr().String()
}
