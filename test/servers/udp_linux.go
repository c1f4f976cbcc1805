package servers

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"

	"github.com/crddemo/crddemo/test/dnsserver"
	"github.com/crddemo/crddemo/test/testhost"
)

// maxDatagram is the largest UDP payload.
const maxDatagram = 65535

// UDPEcho answers every datagram to Addr with the same bytes. It runs in
// the test process; its socket lives in the Host's namespace.
type UDPEcho struct {
	// Addr is where probes reach the server.
	Addr netip.AddrPort

	t    testing.TB
	host *testhost.Host
	conn net.PacketConn
	done chan struct{}
	stop sync.Once
}

// StartUDPEcho binds addr inside h's namespace and echoes until Stop or the
// end of the test. It is ready when it returns: the kernel queues what
// arrives on a bound socket.
func StartUDPEcho(t testing.TB, h *testhost.Host, addr netip.AddrPort) *UDPEcho {
	t.Helper()
	conn, err := listenUDP(h, addr)
	if err != nil {
		t.Fatalf("servers: UDP echo on %s: %v", addr, err)
	}
	e := &UDPEcho{Addr: addr, t: t, host: h, conn: conn, done: make(chan struct{})}
	go e.serve()
	t.Cleanup(e.Stop)
	return e
}

func (e *UDPEcho) serve() {
	defer close(e.done)
	buf := make([]byte, maxDatagram)
	for {
		n, from, err := e.conn.ReadFrom(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			// An ICMP error for an earlier reply, say; nothing to
			// answer.
			continue
		}
		_, _ = e.conn.WriteTo(buf[:n], from)
	}
}

// Stop closes the socket and returns once the namespace answers datagrams
// to Addr with ICMP port unreachable (see awaitUDPUnbound). Stopping twice
// does nothing.
func (e *UDPEcho) Stop() {
	e.stop.Do(func() {
		_ = e.conn.Close()
		<-e.done
		if err := awaitUDPUnbound(e.host, e.Addr); err != nil {
			e.t.Errorf("servers: stopping the UDP echo: %v", err)
		}
	})
}

// DNS is the project's test DNS server (test/dnsserver) in a Host's
// namespace.
type DNS struct {
	*dnsserver.Server

	t    testing.TB
	host *testhost.Host
	addr netip.AddrPort
}

// Stop stops the server and returns once the namespace answers queries to
// its address with ICMP port unreachable (see awaitUDPUnbound).
func (d *DNS) Stop() {
	d.Server.Stop()
	if err := awaitUDPUnbound(d.host, d.addr); err != nil {
		d.t.Errorf("servers: stopping DNS: %v", err)
	}
}

// StartDNS runs the project's test DNS server (test/dnsserver) on addr,
// over UDP and TCP, inside h's namespace, until its Stop or the end of the
// test.
func StartDNS(t testing.TB, h *testhost.Host, addr netip.AddrPort) *DNS {
	t.Helper()
	pc, err := listenUDP(h, addr)
	if err != nil {
		t.Fatalf("servers: DNS on %s: %v", addr, err)
	}
	var tcp net.Listener
	err = h.Do(func() error {
		var err error
		tcp, err = net.Listen("tcp4", addr.String())
		return err
	})
	if err != nil {
		_ = pc.Close()
		t.Fatalf("servers: DNS on %s: %v", addr, err)
	}
	return &DNS{Server: dnsserver.Serve(t, pc, tcp), t: t, host: h, addr: addr}
}

// listenUDP binds a UDP socket to addr inside h's namespace. It also
// lifts the namespace's rate limit on ICMP errors (by default about one a
// second per peer after a burst of six), so that every probe of a stopped
// UDP server gets its port unreachable, however many a test sends.
func listenUDP(h *testhost.Host, addr netip.AddrPort) (net.PacketConn, error) {
	var conn net.PacketConn
	err := h.Do(func() error {
		// The sysctl belongs to the namespace of the thread that
		// writes it.
		if err := os.WriteFile("/proc/sys/net/ipv4/icmp_ratelimit", []byte("0"), 0o644); err != nil {
			return err
		}
		var err error
		// A socket stays in the namespace it was made in.
		conn, err = net.ListenPacket("udp4", addr.String())
		return err
	})
	return conn, err
}
