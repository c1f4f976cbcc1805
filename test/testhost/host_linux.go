//go:build linux

package testhost

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// nsPrefix starts the name of every namespace this package creates.
	nsPrefix = "crddemo-"
	// vethHostPrefix and vethNSPrefix start the names of the two veth ends;
	// with eight hex digits after them they stay well within the kernel's
	// 15-character limit for interface names.
	vethHostPrefix = "cdh"
	vethNSPrefix   = "cdn"

	// allocLockName is an abstract unix socket address. Binding it is the
	// machine-wide lock that serialises choosing and installing subnets, so
	// that concurrent test binaries never pick the same one. The kernel
	// releases it when the socket is closed or the process dies, and it
	// leaves no file behind.
	allocLockName = "@crddemo-testhost-alloc"

	// poolWait bounds how long New waits for a free subnet when every one
	// in the pool is taken, retrying every poolRetry.
	poolWait  = 2 * time.Minute
	poolRetry = 250 * time.Millisecond

	// probePort is the port New connects to, before anything can listen
	// in the namespace, to check that the veth pair passes traffic.
	probePort = 9

	// cmdTimeout bounds the ip commands run without a caller's context
	// (Close, BlackHole, Restore and cleanup after a failed New).
	cmdTimeout = 30 * time.Second
)

var (
	// defaultPool is carved into defaultBits-sized subnets for hosts
	// created without Options.Subnet.
	defaultPool = netip.MustParsePrefix("10.250.0.0/15")
	defaultBits = 20

	// linkPool is carved into /30 networks, one per veth pair.
	linkPool = netip.MustParsePrefix("10.249.0.0/16")
	linkBits = 30

	// allocSem serialises allocation inside this process, so goroutines do
	// not spin against each other on the machine-wide lock.
	allocSem = make(chan struct{}, 1)
)

// New creates a network namespace and a veth pair, routes a subnet from the
// host into the namespace and returns the Host. It needs root and the ip
// command (iproute2). On error everything created so far is removed again.
//
// Without Options.Subnet, New picks the first /20 inside 10.250.0.0/15 that
// neither overlaps a route on this machine nor is covered by another Host's
// route, waiting up to poolWait for one to be freed when all are taken.
// Before returning it checks that the kernel routes the subnet into the new
// veth.
func New(ctx context.Context, opts Options) (*Host, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("testhost: creating network namespaces needs root (effective uid is " + strconv.Itoa(os.Geteuid()) + ")")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, fmt.Errorf("testhost: the ip command from iproute2 is required: %w", err)
	}
	if opts.Subnet != (netip.Prefix{}) {
		if err := validateSubnet(opts.Subnet); err != nil {
			return nil, err
		}
	}

	var random [4]byte
	if _, err := rand.Read(random[:]); err != nil {
		return nil, fmt.Errorf("testhost: %w", err)
	}
	suffix := hex.EncodeToString(random[:])
	h := &Host{
		Name:     nsPrefix + suffix,
		vethHost: vethHostPrefix + suffix,
		vethNS:   vethNSPrefix + suffix,
		// Locally administered unicast addresses, unique like the names.
		macHost: net.HardwareAddr{0x02, 0xcd, random[0], random[1], random[2], random[3]},
		macNS:   net.HardwareAddr{0x06, 0xcd, random[0], random[1], random[2], random[3]},
		servers: make(map[int]*server),
		parent:  opts.Parent,
	}

	unlock, routes, err := lockSubnet(ctx, h, opts.Subnet)
	if err != nil {
		return nil, err
	}
	defer unlock()
	h.linkNet, err = pickLinkNet(routes)
	if err != nil {
		return nil, err
	}
	h.linkHost = addrAdd(h.linkNet.Addr(), 1)
	h.linkNS = addrAdd(h.linkNet.Addr(), 2)

	if err := h.setUp(ctx); err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cmdTimeout)
		defer cancel()
		if cerr := h.tearDown(cctx); cerr != nil {
			err = errors.Join(err, fmt.Errorf("cleaning up after the failure: %w", cerr))
		}
		return nil, fmt.Errorf("testhost: creating %s: %w", h.Name, err)
	}
	return h, nil
}

// lockSubnet takes the allocation lock, removes orphans and sets h.Subnet to
// want or, without want, to the first free subnet of the pool. It returns
// the routes it saw and the unlock function; the caller holds the lock
// until the subnet's route is installed. When the pool is full it lets go
// of the lock and tries again for up to poolWait: test binaries running
// side by side each hold a few hosts, and their tests free them as they end.
func lockSubnet(ctx context.Context, h *Host, want netip.Prefix) (func(), []route, error) {
	deadline := time.Now().Add(poolWait)
	for {
		unlock, err := lockAllocation(ctx)
		if err != nil {
			return nil, nil, err
		}
		routes, err := func() ([]route, error) {
			if err := removeOrphans(ctx); err != nil {
				return nil, err
			}
			return listRoutes(ctx, h.parent)
		}()
		if err != nil {
			unlock()
			return nil, nil, err
		}
		if want.IsValid() {
			if r, bad := conflicts(want, routes); bad {
				unlock()
				return nil, nil, fmt.Errorf("testhost: subnet %s conflicts with the existing route %q", want, r.describe())
			}
			h.Subnet = want
			return unlock, routes, nil
		}
		if p, ok := firstFree(defaultPool, defaultBits, routes); ok {
			h.Subnet = p
			return unlock, routes, nil
		}
		unlock()
		if time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("testhost: no free /%d left in %s for %v; look for leftover namespaces with `ip netns list`", defaultBits, defaultPool, poolWait)
		}
		select {
		case <-time.After(poolRetry):
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("testhost: waiting for a free /%d in %s: %w", defaultBits, defaultPool, ctx.Err())
		}
	}
}

// setUp creates the namespace, the veth pair, the addresses and the routes,
// recording what exists so that tearDown can remove it.
func (h *Host) setUp(ctx context.Context) error {
	// The owner first: a process that dies right after creating the
	// namespace must not leave it unrecorded.
	if err := recordOwner(h.Name); err != nil {
		return err
	}
	if _, err := runIP(ctx, "", "netns", "add", h.Name); err != nil {
		return err
	}
	h.nsCreated = true
	if err := injectFault(h, "netns"); err != nil {
		return err
	}

	if _, err := runIP(ctx, "", nsArgs(h.parent, "link", "add", h.vethHost, "address", h.macHost.String(), "type", "veth",
		"peer", "name", h.vethNS, "address", h.macNS.String(), "netns", h.Name)...); err != nil {
		return err
	}
	h.vethCreated = true
	if err := injectFault(h, "veth"); err != nil {
		return err
	}

	// IPv6 is not needed; turning it off keeps the pair free of router
	// solicitations and duplicate address detection.
	if err := h.inParent(func() error { return disableIPv6(h.vethHost) }); err != nil {
		return err
	}
	err := h.inNamespace(func() error {
		if err := disableIPv6(h.vethNS); err != nil {
			return err
		}
		// The namespace must never forward: a packet for a subnet address
		// is either delivered locally or, while black-holed, dropped.
		return writeSysctl("net/ipv4/conf/all/forwarding", "0")
	})
	if err != nil {
		return err
	}

	nsSide := strings.Join([]string{
		"link set lo up",
		fmt.Sprintf("addr add %s/%d dev %s", h.linkNS, linkBits, h.vethNS),
		fmt.Sprintf("link set %s up", h.vethNS),
		// Static neighbour entries: neither side ever needs ARP, so no
		// packet waits for (or is lost with) an ARP exchange.
		fmt.Sprintf("neigh replace %s lladdr %s dev %s nud permanent", h.linkHost, h.macHost, h.vethNS),
		// Every address of the subnet is local to the namespace.
		fmt.Sprintf("route add local %s dev lo", h.Subnet),
	}, "\n") + "\n"
	if h.parent != "" {
		nsSide += fmt.Sprintf("route add default via %s dev %s\n", h.linkHost, h.vethNS)
	}
	if _, err := runIP(ctx, nsSide, "-n", h.Name, "-batch", "-"); err != nil {
		return err
	}
	if err := injectFault(h, "namespace side"); err != nil {
		return err
	}

	hostSide := strings.Join([]string{
		fmt.Sprintf("addr add %s/%d dev %s", h.linkHost, linkBits, h.vethHost),
		fmt.Sprintf("link set %s up", h.vethHost),
		fmt.Sprintf("neigh replace %s lladdr %s dev %s nud permanent", h.linkNS, h.macNS, h.vethHost),
	}, "\n") + "\n"
	if _, err := runIP(ctx, hostSide, nsArgs(h.parent, "-batch", "-")...); err != nil {
		return err
	}
	if err := injectFault(h, "host side"); err != nil {
		return err
	}

	// One next hop for the whole subnet: the host resolves a single
	// neighbour however many of the subnet's addresses are dialled.
	if _, err := runIP(ctx, "", nsArgs(h.parent, "route", "add", h.Subnet.String(), "via", h.linkNS.String(), "dev", h.vethHost)...); err != nil {
		return err
	}
	h.routeCreated = true
	if err := injectFault(h, "route"); err != nil {
		return err
	}

	if err := h.checkRouted(ctx); err != nil {
		return err
	}
	return h.waitOperational(ctx)
}

// waitOperational waits until traffic flows through the veth pair. The
// kernel finishes bringing up a veth end asynchronously after its peer has
// come up, and until then the end silently drops what it sends; a SYN-ACK
// or reset lost that way would cost the first connection a retransmission
// (a second or more). So New waits for both ends to report being up, then
// connects to a port of Subnet that nobody listens on until the connection
// is refused, which proves that packets pass both ways.
func (h *Host) waitOperational(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		hostUp, err := linkOperational(ctx, h.parent, h.vethHost)
		if err != nil {
			return err
		}
		nsUp, err := linkOperational(ctx, h.Name, h.vethNS)
		if err != nil {
			return err
		}
		if hostUp && nsUp {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s and %s to come up: %w", h.vethHost, h.vethNS, ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
	probe := net.JoinHostPort(h.Addr(1).String(), strconv.Itoa(probePort))
	for {
		var d net.Dialer
		dctx, dcancel := context.WithTimeout(ctx, 100*time.Millisecond)
		var c net.Conn
		err := h.inParent(func() error {
			var err error
			c, err = d.DialContext(dctx, "tcp4", probe)
			return err
		})
		dcancel()
		switch {
		case err == nil:
			// Unexpected, but it shows the path works just as well.
			c.Close()
			return nil
		case errors.Is(err, unix.ECONNREFUSED):
			return nil
		case ctx.Err() != nil:
			return fmt.Errorf("no answer from %s through %s: %w", probe, h.vethHost, err)
		case isTimeout(err):
			// Lost on the way; try again with a fresh SYN rather than
			// waiting a second for the retransmission.
		default:
			return fmt.Errorf("checking the path to %s: %w", probe, err)
		}
	}
}

// linkOperational reports whether dev, in namespace ns or in the current
// one if ns is empty, is operationally up.
func linkOperational(ctx context.Context, ns, dev string) (bool, error) {
	var args []string
	if ns != "" {
		args = append(args, "-n", ns)
	}
	args = append(args, "-j", "link", "show", "dev", dev)
	out, err := runIP(ctx, "", args...)
	if err != nil {
		return false, err
	}
	var links []struct {
		OperState string `json:"operstate"`
	}
	if err := json.Unmarshal(out, &links); err != nil {
		return false, fmt.Errorf("parsing `ip link show dev %s`: %w: %s", dev, err, out)
	}
	return len(links) == 1 && links[0].OperState == "UP", nil
}

// setUpFault, when set by a test, is called after each step of setUp and
// makes the step fail if it returns an error.
var setUpFault func(h *Host, step string) error

func injectFault(h *Host, step string) error {
	if setUpFault == nil {
		return nil
	}
	return setUpFault(h, step)
}

// checkRouted asks the kernel how it would route the first and the last
// address handed out by Addr and fails unless both go into this Host's veth
// via its namespace end. It sends no packets.
func (h *Host) checkRouted(ctx context.Context) error {
	last := int(uint64(1)<<(32-h.Subnet.Bits())) - 2
	for _, i := range []int{1, last} {
		a := h.Addr(i)
		out, err := runIP(ctx, "", nsArgs(h.parent, "-j", "-4", "route", "get", a.String())...)
		if err != nil {
			return err
		}
		var got []struct {
			Dev     string `json:"dev"`
			Gateway string `json:"gateway"`
		}
		if err := json.Unmarshal(out, &got); err != nil {
			return fmt.Errorf("parsing `ip route get %s`: %w: %s", a, err, out)
		}
		if len(got) != 1 || got[0].Dev != h.vethHost || got[0].Gateway != h.linkNS.String() {
			return fmt.Errorf("the kernel does not route %s via %s dev %s (policy routing or an overlapping local route?): %s",
				a, h.linkNS, h.vethHost, bytes.TrimSpace(out))
		}
	}
	return nil
}

// Close stops all servers and deletes the route, the veth pair and the
// namespace. It is idempotent: once it has succeeded, further calls do
// nothing and return nil; after a failure, calling it again retries what is
// left.
func (h *Host) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var errs []error
	if !h.closed {
		h.closed = true
		for port, s := range h.servers {
			if err := s.stop(); err != nil {
				errs = append(errs, fmt.Errorf("stopping the server on port %d: %w", port, err))
			}
		}
		h.servers = nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	if err := h.tearDown(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("testhost: closing %s: %w", h.Name, err)
	}
	return nil
}

// tearDown removes what setUp created, in reverse order. Things that are
// already gone are not an error.
func (h *Host) tearDown(ctx context.Context) error {
	var errs []error
	if h.routeCreated {
		_, err := runIP(ctx, "", nsArgs(h.parent, "route", "del", h.Subnet.String(), "via", h.linkNS.String(), "dev", h.vethHost)...)
		if err != nil && !isNotFound(err) {
			errs = append(errs, err)
		} else {
			h.routeCreated = false
		}
	}
	if h.vethCreated {
		// Deleting one end deletes the pair, and with it the link
		// network's routes.
		_, err := runIP(ctx, "", nsArgs(h.parent, "link", "del", h.vethHost)...)
		if err != nil && !isNotFound(err) {
			errs = append(errs, err)
		} else {
			h.vethCreated = false
		}
	}
	if h.nsCreated {
		_, err := runIP(ctx, "", "netns", "del", h.Name)
		if err != nil && !isNotFound(err) {
			errs = append(errs, err)
		} else {
			h.nsCreated = false
		}
	}
	if !h.nsCreated {
		if err := forgetOwner(h.Name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Serve starts a TCP server inside the namespace listening on 0.0.0.0:port,
// so it answers on every address of Subnet. The server accepts every
// connection and closes it as soon as the client closes its end (after 5
// seconds at the latest); it never sends data. Serving a port that is
// already served is a no-op.
func (h *Host) Serve(port int) error {
	if port < 1 || port > 65535 {
		return fmt.Errorf("testhost: invalid port %d", port)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return fmt.Errorf("testhost: Serve(%d) on closed host %s", port, h.Name)
	}
	if _, ok := h.servers[port]; ok {
		return nil
	}
	var ln net.Listener
	err := h.inNamespace(func() error {
		var err error
		// A socket belongs to the namespace it was created in, so the
		// listener keeps serving the namespace after the thread leaves.
		ln, err = net.Listen("tcp4", net.JoinHostPort("0.0.0.0", strconv.Itoa(port)))
		return err
	})
	if err != nil {
		return fmt.Errorf("testhost: serving port %d in %s: %w", port, h.Name, err)
	}
	s := newServer(ln)
	go s.run()
	h.servers[port] = s
	return nil
}

// Listen returns a TCP listener inside the namespace on 0.0.0.0:port, so
// that a server the test runs on it (HTTP, gRPC) answers on every address
// of Subnet. The caller serves it and closes it; closing it makes the port
// refuse connections again. The port must not be one Serve serves.
func (h *Host) Listen(port int) (net.Listener, error) {
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("testhost: invalid port %d", port)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, fmt.Errorf("testhost: Listen(%d) on closed host %s", port, h.Name)
	}
	if _, ok := h.servers[port]; ok {
		return nil, fmt.Errorf("testhost: port %d in %s is already served", port, h.Name)
	}
	var ln net.Listener
	err := h.inNamespace(func() error {
		var err error
		ln, err = net.Listen("tcp4", net.JoinHostPort("0.0.0.0", strconv.Itoa(port)))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("testhost: listening on port %d in %s: %w", port, h.Name, err)
	}
	return ln, nil
}

// StopServing closes the listener on port, so that new connections to any
// address of Subnet on that port are refused with a TCP reset
// (ECONNREFUSED), and closes the connections the server still holds.
// Stopping a port that is not served is a no-op.
func (h *Host) StopServing(port int) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.servers[port]
	delete(h.servers, port)
	if !ok {
		return nil
	}
	if err := s.stop(); err != nil {
		return fmt.Errorf("testhost: stopping port %d in %s: %w", port, h.Name, err)
	}
	return nil
}

// BlackHole makes the namespace silently drop every packet sent to Subnet,
// so connection attempts get no answer at all and time out (rather than
// being refused). It replaces the namespace's local route for Subnet with a
// blackhole route of the same prefix in the local routing table; an
// incoming packet that hits a blackhole route is discarded without any ICMP
// error. (A blackhole route on the host side would not do: the kernel fails
// local senders at once with EINVAL instead of letting them time out.)
// Servers keep running; they just receive nothing until Restore. BlackHole
// on a black-holed host is a no-op.
func (h *Host) BlackHole() error {
	return h.setBlackHole(true)
}

// Restore undoes BlackHole: the namespace answers on Subnet again. Restore on
// a host that is not black-holed is a no-op.
func (h *Host) Restore() error {
	return h.setBlackHole(false)
}

func (h *Host) setBlackHole(on bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return fmt.Errorf("testhost: %s is closed", h.Name)
	}
	if h.blackholed == on {
		return nil
	}
	typ := "local"
	if on {
		typ = "blackhole"
	}
	args := []string{"-n", h.Name, "route", "replace", "table", "local", typ, h.Subnet.String()}
	if !on {
		args = append(args, "dev", "lo")
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	if _, err := runIP(ctx, "", args...); err != nil {
		return fmt.Errorf("testhost: %w", err)
	}
	h.blackholed = on
	return nil
}

// shutdownListener makes a listening socket stop listening at once, even
// if another process still holds a copy of its descriptor.
func shutdownListener(ln net.Listener) {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		unix.Shutdown(int(fd), unix.SHUT_RDWR)
	})
}

// inNamespace runs fn on an OS thread that has joined the Host's network
// namespace. Sockets fn creates stay in the namespace. fn must not start
// goroutines or processes that are meant to run in the namespace.
func (h *Host) inNamespace(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// The thread is handed back to the runtime only once it is known
		// to be in its original namespace again. Otherwise the goroutine
		// exits still locked and the runtime terminates the thread.
		if err := runInNamespace(NamespacePath(h.Name), fn, errc); err == nil {
			runtime.UnlockOSThread()
		}
	}()
	return <-errc
}

// inParent runs fn in the namespace of the host side: the Parent, or the
// calling thread's own namespace when there is none.
func (h *Host) inParent(fn func() error) error {
	if h.parent == "" {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := runInNamespace(NamespacePath(h.parent), fn, errc); err == nil {
			runtime.UnlockOSThread()
		}
	}()
	return <-errc
}

// Do runs fn on an OS thread inside the Host's network namespace, for
// servers a test makes itself (a UDP socket, say): sockets fn creates stay
// in the namespace. fn must not start goroutines or processes that are
// meant to run in the namespace.
func (h *Host) Do(fn func() error) error {
	return h.inNamespace(fn)
}

// Peers returns the source addresses of the connections the server on port
// has accepted, in no particular order.
func (h *Host) Peers(port int) []netip.Addr {
	h.mu.Lock()
	s, ok := h.servers[port]
	h.mu.Unlock()
	if !ok {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]netip.Addr, 0, len(s.peers))
	for a := range s.peers {
		out = append(out, a)
	}
	return out
}

// nsArgs prefixes ip arguments with -n ns when ns is set.
func nsArgs(ns string, args ...string) []string {
	if ns == "" {
		return args
	}
	return append([]string{"-n", ns}, args...)
}

// runInNamespace joins the namespace at path on the current (locked) thread,
// runs fn, joins the original namespace again and sends the outcome on
// errc. It returns an error only if the thread could not be moved back.
func runInNamespace(path string, fn func() error, errc chan<- error) error {
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		errc <- fmt.Errorf("opening the current network namespace: %w", err)
		return nil
	}
	defer orig.Close()
	target, err := os.Open(path)
	if err != nil {
		errc <- fmt.Errorf("opening network namespace %s: %w", path, err)
		return nil
	}
	defer target.Close()

	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		// Still in the original namespace; the thread is fine.
		errc <- fmt.Errorf("entering network namespace %s: %w", path, err)
		return nil
	}
	fnErr := fn()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		errc <- errors.Join(fnErr, fmt.Errorf("leaving network namespace %s: %w", path, err))
		return err
	}
	errc <- fnErr
	return nil
}

// disableIPv6 turns IPv6 off on the named interface of the calling thread's
// namespace. Kernels without IPv6 have nothing to turn off.
func disableIPv6(dev string) error {
	err := writeSysctl("net/ipv6/conf/"+dev+"/disable_ipv6", "1")
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// writeSysctl writes a value under /proc/sys. Network settings there belong
// to the namespace of the thread that opens the file.
func writeSysctl(name, value string) error {
	f, err := os.OpenFile("/proc/sys/"+name, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("setting %s: %w", name, err)
	}
	return nil
}

// lockAllocation takes the machine-wide allocation lock, waiting for it
// until ctx is done. The returned function releases it.
func lockAllocation(ctx context.Context) (func(), error) {
	select {
	case allocSem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("testhost: waiting for the allocation lock: %w", ctx.Err())
	}
	for {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			<-allocSem
			return nil, fmt.Errorf("testhost: allocation lock: %w", err)
		}
		err = unix.Bind(fd, &unix.SockaddrUnix{Name: allocLockName})
		if err == nil {
			return func() {
				unix.Close(fd)
				<-allocSem
			}, nil
		}
		unix.Close(fd)
		if !errors.Is(err, unix.EADDRINUSE) {
			<-allocSem
			return nil, fmt.Errorf("testhost: allocation lock: %w", err)
		}
		select {
		case <-time.After(5 * time.Millisecond):
		case <-ctx.Done():
			<-allocSem
			return nil, fmt.Errorf("testhost: waiting for the allocation lock held by another process: %w", ctx.Err())
		}
	}
}

// route is one IPv4 route of the machine, from any routing table.
type route struct {
	Dst   netip.Prefix
	Type  string
	Dev   string
	Table string
}

func (r route) describe() string {
	s := r.Dst.String()
	if r.Type != "" {
		s = r.Type + " " + s
	}
	if r.Dev != "" {
		s += " dev " + r.Dev
	}
	if r.Table != "" {
		s += " table " + r.Table
	}
	return s
}

// listRoutes returns the IPv4 routes of all routing tables of namespace ns,
// or of the current namespace if ns is empty.
func listRoutes(ctx context.Context, ns string) ([]route, error) {
	out, err := runIP(ctx, "", nsArgs(ns, "-j", "-4", "route", "show", "table", "all")...)
	if err != nil {
		return nil, fmt.Errorf("testhost: listing routes: %w", err)
	}
	var raw []struct {
		Dst   string `json:"dst"`
		Type  string `json:"type"`
		Dev   string `json:"dev"`
		Table string `json:"table"`
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		return nil, fmt.Errorf("testhost: parsing `ip -j route show`: %w", err)
	}
	routes := make([]route, 0, len(raw))
	for _, r := range raw {
		var dst netip.Prefix
		switch {
		case r.Dst == "default":
			dst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		case strings.Contains(r.Dst, "/"):
			dst, err = netip.ParsePrefix(r.Dst)
		default:
			var a netip.Addr
			a, err = netip.ParseAddr(r.Dst)
			dst = netip.PrefixFrom(a, 32)
		}
		if err != nil {
			return nil, fmt.Errorf("testhost: unexpected route destination %q: %w", r.Dst, err)
		}
		routes = append(routes, route{Dst: dst.Masked(), Type: r.Type, Dev: r.Dev, Table: r.Table})
	}
	return routes, nil
}

// conflicts reports whether p cannot be used because of an existing route:
// one inside p or equal to it (it would take some of p's traffic
// elsewhere), a broader local or other non-unicast route (the local table
// is consulted first), or a broader route into another Host.
func conflicts(p netip.Prefix, routes []route) (route, bool) {
	for _, r := range routes {
		if !r.Dst.Overlaps(p) {
			continue
		}
		if r.Dst.Bits() >= p.Bits() {
			return r, true
		}
		if r.Dst.Bits() == 0 {
			continue
		}
		if (r.Type != "" && r.Type != "unicast") || strings.HasPrefix(r.Dev, vethHostPrefix) {
			return r, true
		}
	}
	return route{}, false
}

// firstFree returns the first bits-sized subnet of pool that does not
// conflict with routes.
func firstFree(pool netip.Prefix, bits int, routes []route) (netip.Prefix, bool) {
	step := uint32(1) << (32 - bits)
	n := uint32(1) << (bits - pool.Bits())
	for i := range n {
		p := netip.PrefixFrom(addrAdd(pool.Addr(), i*step), bits)
		if _, bad := conflicts(p, routes); !bad {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

func pickLinkNet(routes []route) (netip.Prefix, error) {
	p, ok := firstFree(linkPool, linkBits, routes)
	if !ok {
		return netip.Prefix{}, fmt.Errorf("testhost: no free /%d left in %s", linkBits, linkPool)
	}
	return p, nil
}

// validateSubnet checks an explicitly requested subnet.
func validateSubnet(p netip.Prefix) error {
	switch {
	case !p.IsValid() || !p.Addr().Is4():
		return fmt.Errorf("testhost: subnet %s is not an IPv4 prefix", p)
	case p != p.Masked():
		return fmt.Errorf("testhost: subnet %s has host bits set (did you mean %s?)", p, p.Masked())
	case p.Bits() < 8 || p.Bits() > 30:
		return fmt.Errorf("testhost: subnet %s must be between /8 and /30", p)
	case !p.Addr().IsPrivate() || !addrAdd(p.Addr(), uint32(1)<<(32-p.Bits())-1).IsPrivate():
		return fmt.Errorf("testhost: subnet %s is not in private address space", p)
	case p.Overlaps(linkPool):
		return fmt.Errorf("testhost: subnet %s overlaps %s, which is reserved for veth links", p, linkPool)
	}
	return nil
}

// isTimeout reports whether err is a network timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// ipError is a failed ip command with everything it printed.
type ipError struct {
	args   []string
	err    error
	output string
}

func (e *ipError) Error() string {
	return fmt.Sprintf("ip %s: %v: %s", strings.Join(e.args, " "), e.err, e.output)
}

func (e *ipError) Unwrap() error { return e.err }

// runIP runs the ip command with args, feeding it stdin if that is not
// empty, and returns its standard output. The error carries the combined
// output.
func runIP(ctx context.Context, stdin string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		out := strings.TrimSpace(stdout.String() + "\n" + stderr.String())
		if stdin != "" {
			out += " (commands: " + strings.ReplaceAll(strings.TrimSpace(stdin), "\n", "; ") + ")"
		}
		return stdout.Bytes(), &ipError{args: args, err: err, output: out}
	}
	return stdout.Bytes(), nil
}

// isNotFound reports whether a failed ip command failed only because the
// object it was to delete does not exist.
func isNotFound(err error) bool {
	var e *ipError
	if !errors.As(err, &e) {
		return false
	}
	for _, s := range []string{"Cannot find device", "No such process", "No such file or directory", "does not exist"} {
		if strings.Contains(e.output, s) {
			return true
		}
	}
	return false
}
