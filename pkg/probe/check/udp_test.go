package check

import (
	"context"
	"net"
	"testing"
	"time"
)

// serveUDP starts a loopback UDP server that answers each datagram with
// what reply returns for it (nothing when it returns nil), and returns
// its address.
func serveUDP(t testing.TB, reply func(query []byte) [][]byte) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			for _, r := range reply(buf[:n]) {
				_, _ = pc.WriteTo(r, from)
			}
		}
	}()
	t.Cleanup(func() {
		_ = pc.Close()
		<-done
	})
	return pc.LocalAddr().String()
}

// closedUDPPort returns a loopback UDP address nothing listens on, so the
// kernel answers a datagram to it with an ICMP port unreachable.
func closedUDPPort(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	if err := pc.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

func echo(q []byte) [][]byte  { return [][]byte{q} }
func noReply([]byte) [][]byte { return nil }
func fixed(r string) func([]byte) [][]byte {
	return func([]byte) [][]byte { return [][]byte{[]byte(r)} }
}

func TestUDPCheck(t *testing.T) {
	spec := func(send, expect string) Spec {
		return Spec{Kind: KindUDP, UDP: &UDPSpec{Send: []byte(send), Expect: []byte(expect)}}
	}
	runProtocolCases(t, []protocolCase{
		{name: "echo, any reply", target: serveUDP(t, echo), spec: spec("ping", "")},
		{name: "echo contains expect", target: serveUDP(t, echo), spec: spec("<14>probe", "probe")},
		{name: "binary reply", target: serveUDP(t, fixed("\x1c\x02\x03\xe8")), spec: spec("\x1b", "\x1c")},
		{name: "reply without expect", target: serveUDP(t, echo), spec: spec("ping", "pong"), want: `expected "pong", got "ping"`},
		{name: "port unreachable", target: closedUDPPort(t), spec: spec("ping", ""), want: msgUDPUnreachable},
		{name: "no reply", target: serveUDP(t, noReply), spec: spec("ping", ""), want: msgUDPNoReply, timeout: silentTimeout},
		{name: "hostile reply", target: serveUDP(t, fixed(hostile)), spec: spec("ping", "pong"),
			want: `expected "pong", got "\xff\x00` + "AAAAAAAAAAAAAAAAAAAAAAAA…\""},
		{name: "a reply longer than the bound", target: serveUDP(t, fixed(string(make([]byte, 10000))+"pong")), spec: spec("ping", "pong"),
			want: `expected "pong", got "` + "\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00…\""},
	})
}

// TestUDPCheckCancel: a cancelled UDP probe says so, not "no reply".
func TestUDPCheckCancel(t *testing.T) {
	c, err := New(Spec{Kind: KindUDP, UDP: &UDPSpec{Send: []byte("ping")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	time.AfterFunc(50*time.Millisecond, cancel)
	if err := c.Check(ctx, mustAddrPort(t, serveUDP(t, noReply))); err == nil || err.Error() != msgCanceled {
		t.Errorf("cancelled: %v, want %q", err, msgCanceled)
	}
}
