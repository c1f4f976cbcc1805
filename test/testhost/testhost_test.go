//go:build linux

package testhost

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Every dial in these tests goes to an address of a Host's own Subnet.

// dial connects to a:port from the test process (the host side).
func dial(a netip.Addr, port int, timeout time.Duration) error {
	if !a.IsValid() {
		return errors.New("invalid address")
	}
	c, err := net.DialTimeout("tcp4", net.JoinHostPort(a.String(), strconv.Itoa(port)), timeout)
	if err != nil {
		return err
	}
	return c.Close()
}

func mustAccept(t *testing.T, h *Host, i, port int) {
	t.Helper()
	if err := dial(h.Addr(i), port, 2*time.Second); err != nil {
		t.Fatalf("dial %s:%d: %v", h.Addr(i), port, err)
	}
}

func mustRefuse(t *testing.T, h *Host, i, port int) {
	t.Helper()
	err := dial(h.Addr(i), port, 2*time.Second)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial %s:%d: got %v, want connection refused", h.Addr(i), port, err)
	}
}

func mustTimeOut(t *testing.T, h *Host, i, port int) {
	t.Helper()
	start := time.Now()
	err := dial(h.Addr(i), port, 300*time.Millisecond)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("dial %s:%d: got %v after %v, want a timeout", h.Addr(i), port, err, time.Since(start))
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial %s:%d: refused, want a timeout", h.Addr(i), port)
	}
}

// ip runs the ip command and returns its output, failing the test if it
// fails.
func ip(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestServeAndRefuse(t *testing.T) {
	t.Parallel()
	h := Require(t)
	if !h.Subnet.Contains(h.Addr(1)) || !h.Subnet.Contains(h.Addr(200)) {
		t.Fatalf("Addr outside %s", h.Subnet)
	}
	if err := h.Serve(8080); err != nil {
		t.Fatal(err)
	}
	if err := h.Serve(8080); err != nil {
		t.Fatalf("second Serve(8080): %v", err)
	}
	mustAccept(t, h, 1, 8080)
	mustAccept(t, h, 200, 8080)
	mustRefuse(t, h, 1, 8081)
}

func TestStopServing(t *testing.T) {
	t.Parallel()
	h := Require(t)
	if err := h.Serve(8080); err != nil {
		t.Fatal(err)
	}
	if err := h.Serve(9090); err != nil {
		t.Fatal(err)
	}
	mustAccept(t, h, 7, 8080)
	if err := h.StopServing(8080); err != nil {
		t.Fatal(err)
	}
	mustRefuse(t, h, 7, 8080)
	mustAccept(t, h, 7, 9090)
	if err := h.StopServing(8080); err != nil {
		t.Fatalf("second StopServing: %v", err)
	}
	if err := h.Serve(8080); err != nil {
		t.Fatal(err)
	}
	mustAccept(t, h, 7, 8080)
}

func TestBlackHole(t *testing.T) {
	t.Parallel()
	h := Require(t)
	if err := h.Serve(8080); err != nil {
		t.Fatal(err)
	}
	mustAccept(t, h, 3, 8080)
	if err := h.BlackHole(); err != nil {
		t.Fatal(err)
	}
	if err := h.BlackHole(); err != nil {
		t.Fatalf("second BlackHole: %v", err)
	}
	mustTimeOut(t, h, 3, 8080)
	mustTimeOut(t, h, 4, 8081) // no listener: still no answer, not refused
	if err := h.Restore(); err != nil {
		t.Fatal(err)
	}
	if err := h.Restore(); err != nil {
		t.Fatalf("second Restore: %v", err)
	}
	mustAccept(t, h, 3, 8080)
	mustRefuse(t, h, 4, 8081)
}

func TestTwoHosts(t *testing.T) {
	t.Parallel()
	a := Require(t)
	b := Require(t)
	if a.Subnet.Overlaps(b.Subnet) {
		t.Fatalf("subnets overlap: %s and %s", a.Subnet, b.Subnet)
	}
	if a.Name == b.Name || a.linkNet.Overlaps(b.linkNet) {
		t.Fatalf("hosts share a name or link network: %+v %+v", a, b)
	}
	for _, h := range []*Host{a, b} {
		if err := h.Serve(8080); err != nil {
			t.Fatal(err)
		}
	}
	mustAccept(t, a, 1, 8080)
	mustAccept(t, b, 1, 8080)
	if err := a.StopServing(8080); err != nil {
		t.Fatal(err)
	}
	mustRefuse(t, a, 1, 8080)
	mustAccept(t, b, 1, 8080)
}

func TestExplicitSubnet(t *testing.T) {
	t.Parallel()
	// Another test binary may be using one of these; take the first free.
	var h *Host
	for _, s := range []string{"10.251.255.0/24", "10.251.254.0/24", "10.251.253.0/24", "10.251.252.0/24"} {
		var err error
		h, err = New(context.Background(), Options{Subnet: netip.MustParsePrefix(s)})
		if err == nil {
			break
		}
		if !strings.Contains(err.Error(), "conflicts with") {
			t.Fatal(err)
		}
		t.Log(err)
	}
	if h == nil {
		t.Fatal("all candidate subnets are taken")
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Error(err)
		}
	})
	want := h.Subnet
	if h.Subnet.Bits() != 24 || !netip.MustParsePrefix("10.251.252.0/22").Contains(h.Subnet.Addr()) {
		t.Fatalf("Subnet = %s, want one of the requested /24s", h.Subnet)
	}
	if got := h.Addr(254); got != addrAdd(h.Subnet.Addr(), 254) || !h.Subnet.Contains(got) {
		t.Fatalf("Addr(254) = %s", got)
	}
	if err := h.Serve(8080); err != nil {
		t.Fatal(err)
	}
	mustAccept(t, h, 254, 8080)

	// The same subnet cannot be taken twice.
	if h2, err := New(context.Background(), Options{Subnet: want}); err == nil {
		h2.Close()
		t.Fatalf("second New with %s succeeded", want)
	}
}

func TestInvalidOptions(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"8.8.8.0/24",      // public
		"10.250.0.1/24",   // host bits
		"10.249.5.0/24",   // link pool
		"10.250.0.0/31",   // too small
		"192.168.0.0/7",   // too big and not private throughout
		"127.0.0.0/8",     // loopback
		"fd00::/64",       // IPv6
		"172.16.0.0/11",   // runs past 172.31.255.255
		"192.168.10.0/33", // invalid
	} {
		p, _ := netip.ParsePrefix(s)
		if s == "192.168.10.0/33" {
			p = netip.PrefixFrom(netip.MustParseAddr("192.168.10.0"), 33)
		}
		if err := validateSubnet(p); err == nil {
			t.Errorf("validateSubnet(%s) accepted it", s)
		}
	}
	if err := validateSubnet(netip.MustParsePrefix("10.1.2.0/24")); err != nil {
		t.Errorf("validateSubnet(10.1.2.0/24): %v", err)
	}
}

func TestAddrRange(t *testing.T) {
	t.Parallel()
	h := &Host{Subnet: netip.MustParsePrefix("10.250.16.0/20")}
	if got, want := h.Addr(1), netip.MustParseAddr("10.250.16.1"); got != want {
		t.Errorf("Addr(1) = %s, want %s", got, want)
	}
	if got, want := h.Addr(300), netip.MustParseAddr("10.250.17.44"); got != want {
		t.Errorf("Addr(300) = %s, want %s", got, want)
	}
	if got, want := h.Addr(4094), netip.MustParseAddr("10.250.31.254"); got != want {
		t.Errorf("Addr(4094) = %s, want %s", got, want)
	}
	for _, i := range []int{0, -1, 4095} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Addr(%d) did not panic", i)
				}
			}()
			h.Addr(i)
		}()
	}
}

func TestConflicts(t *testing.T) {
	t.Parallel()
	p := netip.MustParsePrefix("10.250.16.0/20")
	for _, c := range []struct {
		r    route
		want bool
	}{
		{route{Dst: netip.MustParsePrefix("0.0.0.0/0"), Dev: "eth0"}, false},
		{route{Dst: netip.MustParsePrefix("10.0.0.0/8"), Dev: "tun0"}, false},
		{route{Dst: netip.MustParsePrefix("10.250.0.0/20"), Dev: "cdh00000000"}, false},
		{route{Dst: netip.MustParsePrefix("10.250.16.0/20"), Dev: "eth0"}, true},
		{route{Dst: netip.MustParsePrefix("10.250.17.0/24"), Dev: "docker0"}, true},
		{route{Dst: netip.MustParsePrefix("10.250.17.5/32"), Type: "local", Dev: "eth0"}, true},
		{route{Dst: netip.MustParsePrefix("10.0.0.0/8"), Type: "local", Dev: "lo"}, true},
		{route{Dst: netip.MustParsePrefix("10.250.0.0/16"), Dev: "cdh00000000"}, true},
	} {
		if _, got := conflicts(p, []route{c.r}); got != c.want {
			t.Errorf("conflicts(%s, %s) = %v, want %v", p, c.r.describe(), got, c.want)
		}
	}
}

func TestCloseRemovesEverything(t *testing.T) {
	t.Parallel()
	start := time.Now()
	h, err := New(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("New took %v", time.Since(start))
	if err := h.Serve(8080); err != nil {
		t.Fatal(err)
	}
	mustAccept(t, h, 1, 8080)
	if !strings.Contains(ip(t, "netns", "list"), h.Name) {
		t.Fatalf("namespace %s not listed", h.Name)
	}
	if strings.TrimSpace(ip(t, "route", "show", h.Subnet.String())) == "" {
		t.Fatalf("no route to %s", h.Subnet)
	}

	start = time.Now()
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Close took %v", time.Since(start))

	if strings.Contains(ip(t, "netns", "list"), h.Name) {
		t.Errorf("namespace %s still listed", h.Name)
	}
	if _, err := os.Stat(NamespacePath(h.Name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still exists: %v", NamespacePath(h.Name), err)
	}
	if out, err := exec.Command("ip", "link", "show", h.vethHost).CombinedOutput(); err == nil {
		t.Errorf("veth %s still exists: %s", h.vethHost, out)
	}
	// Once Close has returned, another Host (of a parallel test or test
	// binary) may take the same subnet, so look for routes into this
	// Host's veth rather than for any route to the subnet.
	for _, p := range []netip.Prefix{h.Subnet, h.linkNet} {
		if out := ip(t, "route", "show", p.String()); strings.Contains(out, h.vethHost) {
			t.Errorf("route to %s still there: %s", p, out)
		}
	}
	if out := ip(t, "route", "show", "table", "all"); strings.Contains(out, h.vethHost) {
		t.Errorf("routes via %s left behind:\n%s", h.vethHost, out)
	}
	if err := h.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := h.Serve(8080); err == nil {
		t.Error("Serve after Close succeeded")
	}
	if err := h.BlackHole(); err == nil {
		t.Error("BlackHole after Close succeeded")
	}
}

func TestNewCleansUpOnFailure(t *testing.T) {
	// Not parallel: setUpFault is shared by every New in this process.
	defer func() { setUpFault = nil }()
	for _, step := range []string{"netns", "veth", "namespace side", "host side", "route"} {
		var h *Host
		setUpFault = func(got *Host, s string) error {
			h = got
			if s == step {
				return errors.New("injected failure")
			}
			return nil
		}
		got, err := New(context.Background(), Options{})
		if err == nil {
			got.Close()
			t.Fatalf("New succeeded despite a failure after step %q", step)
		}
		if !strings.Contains(err.Error(), "injected failure") {
			t.Fatalf("failure after step %q: unexpected error %v", step, err)
		}
		if strings.Contains(ip(t, "netns", "list"), h.Name) {
			t.Errorf("step %q: namespace %s left behind", step, h.Name)
		}
		if out, err := exec.Command("ip", "link", "show", h.vethHost).CombinedOutput(); err == nil {
			t.Errorf("step %q: veth %s left behind: %s", step, h.vethHost, out)
		}
		if out := ip(t, "route", "show", "table", "all"); strings.Contains(out, h.vethHost) {
			t.Errorf("step %q: routes via %s left behind:\n%s", step, h.vethHost, out)
		}
	}
}

// TestManyAddresses dials 1,500 distinct addresses of one Host and checks
// that the machine's neighbour table gains no entry for them and holds one
// neighbour on the host's veth: the whole subnet is reached through one
// next hop.
func TestManyAddresses(t *testing.T) {
	h := Require(t)
	if err := h.Serve(8080); err != nil {
		t.Fatal(err)
	}
	// Only entries for the subnet's addresses count: test binaries running
	// beside this one add entries for their own hosts' links meanwhile.
	countNeigh := func() int {
		n := 0
		for _, line := range strings.Split(ip(t, "neigh", "show"), "\n") {
			fields := strings.Fields(line)
			if len(fields) == 0 {
				continue
			}
			if a, err := netip.ParseAddr(fields[0]); err == nil && h.Subnet.Contains(a) {
				n++
			}
		}
		return n
	}
	before := countNeigh()
	start := time.Now()
	const n = 1500
	for i := 1; i <= n; i++ {
		if err := dial(h.Addr(i), 8080, time.Second); err != nil {
			t.Fatalf("dial %s: %v", h.Addr(i), err)
		}
	}
	t.Logf("%d sequential connections to %s..%s took %v", n, h.Addr(1), h.Addr(n), time.Since(start))
	after := countNeigh()
	t.Logf("neighbour entries before %d, after %d", before, after)
	if after != before {
		t.Errorf("neighbour entries for %s went from %d to %d", h.Subnet, before, after)
	}
	if got := strings.TrimSpace(ip(t, "neigh", "show", "dev", h.vethHost)); strings.Count(got, "\n") > 0 {
		t.Errorf("more than one neighbour on %s:\n%s", h.vethHost, got)
	}
}

// TestThreadsStayInHostNamespace checks that creating listeners inside the
// namespaces never leaves a thread of the test process behind in one, which
// would make later dials or child processes run in the wrong namespace.
func TestThreadsStayInHostNamespace(t *testing.T) {
	t.Parallel()
	want, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	a := Require(t)
	b := Require(t)
	for port := 20000; port < 20050; port++ {
		if err := a.Serve(port); err != nil {
			t.Fatal(err)
		}
		if err := b.Serve(port); err != nil {
			t.Fatal(err)
		}
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		got, err := os.Readlink("/proc/self/task/" + task.Name() + "/ns/net")
		if err != nil {
			continue // the thread has just exited
		}
		if got != want {
			t.Errorf("thread %s is in %s, want %s", task.Name(), got, want)
		}
	}
	mustAccept(t, a, 9, 20049)
	mustAccept(t, b, 9, 20049)
}

func TestConcurrentNew(t *testing.T) {
	t.Parallel()
	const n = 6
	hosts := make([]*Host, n)
	errs := make([]error, n)
	done := make(chan int)
	for i := range n {
		go func() {
			hosts[i], errs[i] = New(context.Background(), Options{})
			done <- i
		}()
	}
	for range n {
		<-done
	}
	for i, h := range hosts {
		if errs[i] != nil {
			t.Error(errs[i])
			continue
		}
		t.Cleanup(func() {
			if err := h.Close(); err != nil {
				t.Error(err)
			}
		})
	}
	if t.Failed() {
		return
	}
	for i, a := range hosts {
		for _, b := range hosts[i+1:] {
			if a.Subnet.Overlaps(b.Subnet) || a.linkNet.Overlaps(b.linkNet) {
				t.Errorf("%s (%s, %s) and %s (%s, %s) overlap", a.Name, a.Subnet, a.linkNet, b.Name, b.Subnet, b.linkNet)
			}
		}
		if err := a.Serve(8080); err != nil {
			t.Fatal(err)
		}
		mustAccept(t, a, 42, 8080)
	}
}

// TestNewWaitsForAFreeSubnet: while every subnet of the pool is taken (a
// blackhole route over the whole pool, in a parent namespace of the test's
// own so that no other test binary sees it), New waits instead of failing;
// it gives up when its context ends, and succeeds once a subnet is free.
func TestNewWaitsForAFreeSubnet(t *testing.T) {
	t.Parallel()
	parent := "cdtest-pool-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	ip(t, "netns", "add", parent)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", parent).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", parent, err, out)
		}
	})
	ip(t, "-n", parent, "link", "set", "lo", "up")
	ip(t, "-n", parent, "route", "add", "blackhole", defaultPool.String())

	// Several retries' worth of a full pool: New must still be waiting.
	window := 4 * poolRetry
	ctx, cancel := context.WithTimeout(t.Context(), window)
	defer cancel()
	start := time.Now()
	h, err := New(ctx, Options{Parent: parent})
	if err == nil {
		h.Close()
		t.Fatalf("New found a subnet in %s although a blackhole route covers it", defaultPool)
	}
	// The context may end inside an ip command as well as between retries,
	// so what proves the wait is when New gave up, not which error it gave.
	if took := time.Since(start); took < window {
		t.Fatalf("New with a full pool gave up after %v, before its context ended (%v): %v", took, window, err)
	}

	type result struct {
		h   *Host
		err error
	}
	done := make(chan result, 1)
	go func() {
		h, err := New(t.Context(), Options{Parent: parent})
		done <- result{h, err}
	}()
	select {
	case r := <-done:
		if r.h != nil {
			r.h.Close()
		}
		t.Fatalf("New returned while the pool was full: %v", r.err)
	case <-time.After(window):
	}
	ip(t, "-n", parent, "route", "del", "blackhole", defaultPool.String())
	r := <-done
	if r.err != nil {
		t.Fatalf("New after a subnet was freed: %v", r.err)
	}
	defer func() {
		if err := r.h.Close(); err != nil {
			t.Errorf("closing %s: %v", r.h.Name, err)
		}
	}()
	if !defaultPool.Contains(r.h.Subnet.Addr()) {
		t.Errorf("subnet %s is not in the pool %s", r.h.Subnet, defaultPool)
	}
}
