// Package testhost gives tests remote-looking hosts to probe without sending
// a single packet off the machine.
//
// A Host is a network namespace created by the test itself and connected to
// the initial namespace by a veth pair. The host side routes a whole subnet
// (by default a free /20 inside 10.250.0.0/15) through the veth to the
// namespace, where the subnet is a "local" route on the loopback device: a
// socket listening on 0.0.0.0 inside the namespace answers on every address
// of the subnet, and an address whose port has no listener answers with a
// real TCP reset. Because the host reaches the subnet through a single next
// hop, it keeps one neighbour (ARP) entry per Host no matter how many of the
// subnet's addresses are dialled.
//
// The TCP servers run inside the test process: the listening socket is
// created by a goroutine that temporarily moves its locked OS thread into the
// namespace, so no helper process is needed.
//
// Every address a Host hands out belongs to its Subnet, and the route to that
// subnet is checked to lead into the Host's veth before New returns, so
// traffic sent to a Host never leaves the machine.
//
// Creating a Host needs root and the ip command from iproute2. Creation of
// hosts is serialised across test binaries on the same machine, so parallel
// `go test` runs pick distinct subnets. A test binary that dies before
// Close (kill -9, a panic on go test's -timeout) leaves its namespaces
// behind; the next New, in any test binary, removes them, since it records
// which process made each namespace. `ip netns list` shows namespaces by
// their "crddemo-" prefix, and `ip netns del` removes one together with its
// veth pair and route.
package testhost

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// netnsDir is where `ip netns add` mounts named network namespaces.
const netnsDir = "/var/run/netns"

// NamespacePath is the file of the named network namespace name (a Host's
// Name, or a Parent): it exists exactly while the namespace does, and
// opening it gives a handle to enter the namespace.
func NamespacePath(name string) string {
	return filepath.Join(netnsDir, name)
}

// Host is a network namespace connected to the host by a veth pair,
// answering on a whole subnet.
type Host struct {
	// Name is the name of the network namespace, as shown by `ip netns list`.
	Name string
	// Subnet is the subnet routed from the host into the namespace; every
	// address in it belongs to the Host.
	Subnet netip.Prefix

	parent   string       // namespace of the host side; empty for the initial one
	vethHost string       // veth end left in the initial namespace
	vethNS   string       // veth end moved into the namespace
	linkNet  netip.Prefix // /30 shared by the two veth ends
	linkHost netip.Addr   // address of vethHost
	linkNS   netip.Addr   // address of vethNS, next hop for Subnet
	macHost  net.HardwareAddr
	macNS    net.HardwareAddr

	// What New managed to create, so that a failed New or Close removes
	// exactly that and nothing that belongs to anybody else.
	nsCreated    bool
	vethCreated  bool
	routeCreated bool

	mu         sync.Mutex
	closed     bool
	blackholed bool
	servers    map[int]*server
}

// Options configures New.
type Options struct {
	// Subnet to serve inside the namespace, routed from the host via the
	// veth. It must be an IPv4 prefix in private address space (10/8,
	// 172.16/12 or 192.168/16) with no host bits set, between /8 and /30,
	// outside 10.249.0.0/16 (used for the veth link networks) and not
	// already routed on this machine.
	//
	// The zero value picks a free /20 inside 10.250.0.0/15, giving 4,094
	// usable addresses.
	Subnet netip.Prefix
	// Parent names a network namespace (as `ip netns list` shows it) that
	// takes the place of the initial namespace: the veth's other end, the
	// route to Subnet and the subnet checks all live there, and the Host
	// gets a default route back through the veth so that it answers
	// senders the parent forwards (a node's Pods). Empty means the initial
	// namespace.
	Parent string
}

// holdTimeout is how long a server keeps an accepted connection open while
// waiting for the client to close it.
const holdTimeout = 5 * time.Second

// server is one TCP listener inside the namespace, its accept loop and the
// connections it holds.
type server struct {
	ln   net.Listener
	done chan struct{} // closed when the accept loop has returned

	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	peers    map[netip.Addr]struct{} // source addresses of accepted connections
	stopping bool
	handlers sync.WaitGroup
}

func newServer(ln net.Listener) *server {
	return &server{ln: ln, done: make(chan struct{}), conns: make(map[net.Conn]struct{}), peers: make(map[netip.Addr]struct{})}
}

// run accepts connections until the listener is closed.
//
// Each connection is closed as soon as the client closes its end (or after
// holdTimeout). Letting the client close first leaves the TIME_WAIT state
// on the client's side, where it keeps the client from reusing the same
// source port for the same address and port. Were the server to close
// first, the TIME_WAIT socket would sit in the namespace, and a later
// connection attempt that happens to reuse the source port would meet it
// instead of a clean refusal after StopServing.
func (s *server) run() {
	defer close(s.done)
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Transient failures (a connection reset before it was
			// accepted, running out of descriptors) must not end the
			// server; back off a little and keep going.
			time.Sleep(5 * time.Millisecond)
			continue
		}
		if !s.track(c) {
			c.Close()
			continue
		}
		go s.hold(c)
	}
}

// track registers c so that stop can close it; it reports false if the
// server is already stopping.
func (s *server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return false
	}
	s.conns[c] = struct{}{}
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		s.peers[ap.Addr()] = struct{}{}
	}
	s.handlers.Add(1)
	return true
}

// hold reads and discards whatever the client sends until it closes the
// connection, then closes the server's end.
func (s *server) hold(c net.Conn) {
	defer s.handlers.Done()
	c.SetReadDeadline(time.Now().Add(holdTimeout))
	io.Copy(io.Discard, c)
	c.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// stop closes the listener, after which connections to its port are
// refused, closes the connections still open and waits for all of the
// server's goroutines to finish.
func (s *server) stop() error {
	// Closing the descriptor is not enough to stop listening at once: a
	// child being started by another goroutine holds a copy of every
	// descriptor between fork and exec, and the socket would go on
	// completing handshakes until then. Shutting it down stops it for
	// every holder.
	shutdownListener(s.ln)
	err := s.ln.Close()
	<-s.done
	s.mu.Lock()
	s.stopping = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.handlers.Wait()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// Addr returns the i-th address of Subnet, counting from 1 (the address
// after the subnet's network address). It panics unless 1 <= i <= the
// number of addresses in Subnet minus 2, so the network and the last
// address of the subnet are never handed out.
func (h *Host) Addr(i int) netip.Addr {
	if !h.Subnet.Addr().Is4() {
		panic("testhost: Addr called on a Host without an IPv4 subnet")
	}
	size := uint64(1) << (32 - h.Subnet.Bits())
	if i < 1 || uint64(i) > size-2 {
		panic(fmt.Sprintf("testhost: Addr(%d) out of range for %s (valid: 1..%d)", i, h.Subnet, size-2))
	}
	return addrAdd(h.Subnet.Addr(), uint32(i))
}

// Require creates a Host with default options and closes it when the test
// and its subtests finish. It fails the test at once if the Host cannot be
// created; it never skips.
func Require(t testing.TB) *Host {
	t.Helper()
	h, err := New(t.Context(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("testhost: closing %s: %v", h.Name, err)
		}
	})
	return h
}

// addrAdd returns the IPv4 address n places after a.
func addrAdd(a netip.Addr, n uint32) netip.Addr {
	b := a.As4()
	binary.BigEndian.PutUint32(b[:], binary.BigEndian.Uint32(b[:])+n)
	return netip.AddrFrom4(b)
}
