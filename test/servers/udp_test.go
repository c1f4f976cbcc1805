//go:build linux

package servers

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/crddemo/crddemo/test/testhost"
)

// TestUDPEchoStopOutlivesForkedCopies: a child process holding a copy of
// the echo's socket (as a child forked by another test does until its
// exec) keeps the port bound after our close. Stop returns only once the
// copy is gone, so the first datagram after it meets a closed port.
func TestUDPEchoStopOutlivesForkedCopies(t *testing.T) {
	h := testhost.Require(t)
	echo := StartUDPEcho(t, h, netip.AddrPortFrom(h.Addr(7), 7))

	// A copy of the descriptor, handed to a child that holds it for
	// holdFor and exits. (os/exec would switch the shared socket to
	// blocking mode through File.Fd, and with it the echo's reads.)
	const holdFor = 500 * time.Millisecond
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := echo.conn.(*net.UDPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	copyFD := -1
	if err := raw.Control(func(fd uintptr) { copyFD, err = syscall.Dup(int(fd)) }); err != nil || copyFD < 0 {
		t.Fatalf("dup: %v", err)
	}
	pid, err := syscall.ForkExec(sleep, []string{"sleep", strconv.FormatFloat(holdFor.Seconds(), 'f', -1, 64)},
		&syscall.ProcAttr{Files: []uintptr{0, 1, 2, uintptr(copyFD)}})
	_ = syscall.Close(copyFD)
	if err != nil {
		t.Fatal(err)
	}
	child, err := os.FindProcess(pid)
	if err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() { _, _ = child.Wait(); close(waited) }()
	t.Cleanup(func() { _ = child.Kill(); <-waited })

	echo.Stop()

	conn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(echo.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	// The namespace answers at once; the deadline only bounds a failure.
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(make([]byte, 16)); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("a datagram after Stop: %v, want ECONNREFUSED (ICMP port unreachable)", err)
	}
}

// TestUDPBound reads this namespace's own socket table: a bound port is
// found, on its address and on the wildcard, and gone once closed.
func TestUDPBound(t *testing.T) {
	for _, listen := range []string{"127.0.0.1:0", "0.0.0.0:0"} {
		c, err := net.ListenPacket("udp4", listen)
		if err != nil {
			t.Fatal(err)
		}
		addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), c.LocalAddr().(*net.UDPAddr).AddrPort().Port())
		if bound := boundHere(t, addr); !bound {
			t.Errorf("%s bound on %s: udpBound = false, want true", addr, listen)
		}
		_ = c.Close()
		if bound := boundHere(t, addr); bound {
			t.Errorf("%s after close: udpBound = true, want false", addr)
		}
	}
}

func boundHere(t *testing.T, addr netip.AddrPort) bool {
	t.Helper()
	table, err := readUDPTable()
	if err != nil {
		t.Fatal(err)
	}
	bound, err := udpBound(table, addr)
	if err != nil {
		t.Fatal(err)
	}
	return bound
}
