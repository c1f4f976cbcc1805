package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/tools/cache"

	"github.com/crddemo/crddemo/pkg/probe/check"
	"github.com/crddemo/crddemo/pkg/probe/internal/probetest"
)

// fastTarget probes often enough that tests finish in milliseconds.
func fastTarget(addr string) Target {
	return Target{
		Address:          addr,
		Period:           20 * time.Millisecond,
		Timeout:          time.Second,
		SuccessThreshold: 1,
		FailureThreshold: 1,
	}
}

// hasKey reports whether key has targets.
func hasKey(p *Prober, key cache.ObjectName) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.entries[key]
	return ok
}

// stateOf is the state of key's only target, and the zero State if key has
// none.
func stateOf(p *Prober, key cache.ObjectName) State {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.entries[key] {
		return e.health.state
	}
	return State{}
}

func TestAcceptedIsReachable(t *testing.T) {
	addr := probetest.Listen(t)
	tr := newTransitions()
	dc := newDialCounter(nil)
	p := New(Options{OnTransition: tr.record, Dial: dc.Dial})
	k := objKey("up")
	p.Sync(k, []Target{fastTarget(addr)})

	if s := p.Sync(k, []Target{fastTarget(addr)}); len(s) != 1 || s[0].Reachability != Unknown {
		t.Fatalf("before Run: Sync = %+v; want one Unknown", s)
	}
	if p.Len() != 1 {
		t.Fatalf("Len = %d, want 1", p.Len())
	}
	run(t, p)

	probetest.Eventually(t, "Reachable", func() bool { return stateOf(p, k).Reachability == Reachable })
	first := stateOf(p, k)
	if first.Message != "" || first.Since.IsZero() {
		t.Errorf("State = %+v, want empty Message and a Since", first)
	}
	// Further successes change nothing and call nothing.
	dc.waitDials(t, addr, 3)
	if got := stateOf(p, k); got != first {
		t.Errorf("State changed without a transition: %+v -> %+v", first, got)
	}
	probetest.Eventually(t, "one transition", func() bool { return tr.count(k) == 1 })
	dc.waitDials(t, addr, 2)
	if n := tr.count(k); n != 1 {
		t.Errorf("OnTransition called %d times, want 1", n)
	}
}

func TestRefusedIsUnreachable(t *testing.T) {
	addr := probetest.RefusedAddress(t)
	tr := newTransitions()
	dc := newDialCounter(nil)
	p := New(Options{OnTransition: tr.record, Dial: dc.Dial})
	k := objKey("down")
	p.Sync(k, []Target{fastTarget(addr)})
	run(t, p)

	probetest.Eventually(t, "Unreachable", func() bool { return stateOf(p, k).Reachability == Unreachable })
	first := stateOf(p, k)
	if first.Message != "connection refused" {
		t.Errorf("Message = %q, want %q", first.Message, "connection refused")
	}
	dc.waitDials(t, addr, 3)
	if got := stateOf(p, k); got != first {
		t.Errorf("State rewritten while staying Unreachable: %+v -> %+v", first, got)
	}
	if n := tr.count(k); n != 1 {
		t.Errorf("OnTransition called %d times, want 1", n)
	}
}

// TestThresholds feeds a scripted sequence of results through the whole
// prober and checks the state seen at the start of every dial, which is
// the state after all earlier results (a key is never probed twice at
// once).
func TestThresholds(t *testing.T) {
	tests := []struct {
		name             string
		success, failure int
		script           []bool // results of the first dials; later dials succeed
		want             []Reachability
		wantTransitions  int
	}{
		{
			name:    "FailureThreshold 3",
			success: 1, failure: 3,
			script:          []bool{true, false, false, false, true},
			want:            []Reachability{Unknown, Reachable, Reachable, Reachable, Unreachable, Reachable},
			wantTransitions: 3,
		},
		{
			name:    "SuccessThreshold 2",
			success: 2, failure: 1,
			script: []bool{false, true, false, true, true},
			want:   []Reachability{Unknown, Unreachable, Unreachable, Unreachable, Unreachable, Reachable},
			// The second failure's new text is a change too.
			wantTransitions: 3,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := objKey("scripted")
			var (
				p    *Prober
				mu   sync.Mutex
				seen []State
			)
			dial := func(ctx context.Context, network, address string) (net.Conn, error) {
				s := stateOf(p, k)
				mu.Lock()
				i := len(seen)
				seen = append(seen, s)
				mu.Unlock()
				if i < len(tc.script) && !tc.script[i] {
					return nil, fmt.Errorf("failure %d", i)
				}
				return &nopConn{}, nil
			}
			tr := newTransitions()
			p = New(Options{OnTransition: tr.record, Dial: dial, Jitter: zeroJitter})
			target := fastTarget("127.0.0.1:9")
			target.SuccessThreshold, target.FailureThreshold = tc.success, tc.failure
			p.Sync(k, []Target{target})
			run(t, p)

			probetest.Eventually(t, "all scripted dials", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(seen) >= len(tc.want)
			})
			mu.Lock()
			got := append([]State(nil), seen[:len(tc.want)]...)
			mu.Unlock()
			lastFailure := ""
			for i, s := range got {
				if s.Reachability != tc.want[i] {
					t.Errorf("before dial %d: %v, want %v (all: %v)", i, s.Reachability, tc.want[i], got)
				}
				// Unreachable says why in the words of the latest failure.
				if s.Reachability == Unreachable && s.Message != lastFailure {
					t.Errorf("before dial %d: Message %q, want %q", i, s.Message, lastFailure)
				}
				if i < len(tc.script) && !tc.script[i] {
					lastFailure = fmt.Sprintf("failure %d", i)
				}
			}
			probetest.Eventually(t, "transitions", func() bool { return tr.count(k) >= tc.wantTransitions })
			if n := tr.count(k); n != tc.wantTransitions {
				t.Errorf("OnTransition called %d times, want %d", n, tc.wantTransitions)
			}
		})
	}
}

func TestEnsureSameTargetIsNoop(t *testing.T) {
	addr := probetest.Listen(t)
	tr := newTransitions()
	dc := newDialCounter(nil)
	p := New(Options{OnTransition: tr.record, Dial: dc.Dial})
	k := objKey("same")
	target := fastTarget(addr)
	p.Sync(k, []Target{target})
	run(t, p)
	probetest.Eventually(t, "Reachable", func() bool { return stateOf(p, k).Reachability == Reachable })
	want := stateOf(p, k)

	p.Sync(k, []Target{target})
	if got := stateOf(p, k); got != want {
		t.Fatalf("Ensure with the same target changed the state: %+v -> %+v", want, got)
	}
	// Only the period and thresholds: the judgement is kept.
	target.Period = 30 * time.Millisecond
	target.FailureThreshold = 5
	p.Sync(k, []Target{target})
	if got := stateOf(p, k); got != want {
		t.Fatalf("Ensure with a new period changed the state: %+v -> %+v", want, got)
	}
	dc.waitDials(t, addr, 3)
	if got := stateOf(p, k); got != want {
		t.Errorf("state changed after more probes: %+v -> %+v", want, got)
	}
	if n := tr.count(k); n != 1 {
		t.Errorf("OnTransition called %d times, want 1", n)
	}
	if p.Len() != 1 {
		t.Errorf("Len = %d, want 1", p.Len())
	}
}

// TestEnsureNewAddressResets also checks that the result of a probe of
// the old address, still in flight when the address changes, is dropped.
func TestEnsureNewAddressResets(t *testing.T) {
	oldAddr := probetest.Listen(t)
	newAddr := probetest.RefusedAddress(t)

	var hold atomic.Bool
	held := make(chan struct{})
	released := make(chan struct{})
	// The new address is probed at once; its refusal waits for the
	// checks of the reset itself.
	newAllowed := make(chan struct{})
	dc := newDialCounter(func(ctx context.Context, network, address string) (net.Conn, error) {
		if address == newAddr {
			select {
			case <-newAllowed:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if address == oldAddr && hold.CompareAndSwap(true, false) {
			close(held)
			<-ctx.Done()
			close(released)
			// Pretend the connection was accepted just as the change
			// arrived: this stale success must not count.
			return &nopConn{}, nil
		}
		return (&net.Dialer{}).DialContext(ctx, network, address)
	})
	tr := newTransitions()
	p := New(Options{OnTransition: tr.record, Dial: dc.Dial})
	k := objKey("moved")
	target := fastTarget(oldAddr)
	target.Timeout = time.Minute
	p.Sync(k, []Target{target})
	run(t, p)
	probetest.Eventually(t, "Reachable", func() bool { return stateOf(p, k).Reachability == Reachable })

	hold.Store(true)
	select {
	case <-held:
	case <-time.After(probetest.WaitLimit):
		t.Fatal("no probe of the old address started")
	}

	target.Address = newAddr
	// The state Sync returns: the new address is probed at once, and a
	// refusal may be judged before a second look.
	if got := p.Sync(k, []Target{target})[0]; got.Reachability != Unknown || got.Message != "" {
		t.Fatalf("after changing the address: State = %+v, want Unknown", got)
	}
	if n := tr.count(k); n != 1 {
		t.Fatalf("the reset called OnTransition: %d calls, want 1", n)
	}
	select {
	case <-released:
	case <-time.After(probetest.WaitLimit):
		t.Fatal("the dial of the old address was not cancelled")
	}
	close(newAllowed)

	probetest.Eventually(t, "Unreachable", func() bool { return stateOf(p, k).Reachability == Unreachable })
	if got := stateOf(p, k).Message; got != "connection refused" {
		t.Errorf("Message = %q, want %q", got, "connection refused")
	}
	dc.waitDials(t, newAddr, 3)
	if got := stateOf(p, k).Reachability; got != Unreachable {
		t.Errorf("Reachability = %v, want Unreachable", got)
	}
	// Unknown -> Reachable, then (after the reset) Unknown -> Unreachable.
	// A counted stale success would have added Reachable -> Unreachable.
	if n := tr.count(k); n != 2 {
		t.Errorf("OnTransition called %d times, want 2", n)
	}
}

func TestForget(t *testing.T) {
	forgotten, other := probetest.Listen(t), probetest.Listen(t)
	dc := newDialCounter(nil)
	tr := newTransitions()
	p := New(Options{OnTransition: tr.record, Dial: dc.Dial})
	kf, ko := objKey("forgotten"), objKey("other")
	p.Sync(kf, []Target{fastTarget(forgotten)})
	p.Sync(ko, []Target{fastTarget(other)})
	run(t, p)
	probetest.Eventually(t, "Reachable", func() bool { return stateOf(p, kf).Reachability == Reachable })

	p.Forget(kf)
	if hasKey(p, kf) {
		t.Fatal("the key is still scheduled after Forget")
	}
	if p.Len() != 1 {
		t.Fatalf("Len = %d, want 1", p.Len())
	}
	p.Forget(kf) // forgetting twice is harmless

	// A dial that had already started may still reach the dialer; let it
	// finish, then make sure nothing follows while other probes go on.
	dc.waitDials(t, other, 2)
	dials, calls := dc.count(forgotten), tr.count(kf)
	dc.waitDials(t, other, 5)
	if got := dc.count(forgotten); got != dials {
		t.Errorf("forgotten key dialed %d more times", got-dials)
	}
	if got := tr.count(kf); got != calls {
		t.Errorf("OnTransition called %d more times for the forgotten key", got-calls)
	}
}

func TestForgetCancelsDialInFlight(t *testing.T) {
	started := make(chan struct{})
	cancelled := make(chan struct{})
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		close(started)
		<-ctx.Done()
		close(cancelled)
		return nil, ctx.Err()
	}
	tr := newTransitions()
	p := New(Options{OnTransition: tr.record, Dial: dial, Jitter: zeroJitter})
	k := objKey("hanging")
	target := fastTarget("127.0.0.1:9")
	target.Period, target.Timeout = time.Hour, time.Hour
	p.Sync(k, []Target{target})
	run(t, p)

	select {
	case <-started:
	case <-time.After(probetest.WaitLimit):
		t.Fatal("no dial started")
	}
	p.Forget(k)
	select {
	case <-cancelled:
	case <-time.After(probetest.WaitLimit):
		t.Fatal("Forget did not cancel the dial in flight")
	}
	if hasKey(p, k) {
		t.Error("a forgotten key is still scheduled")
	}
	if n := tr.count(k); n != 0 {
		t.Errorf("OnTransition called %d times for a forgotten key", n)
	}
}

func TestTimeout(t *testing.T) {
	const timeout = 50 * time.Millisecond
	var badDeadline atomic.Value
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		dl, ok := ctx.Deadline()
		if left := time.Until(dl); !ok || left > timeout {
			badDeadline.Store(fmt.Sprintf("deadline set=%v, %v left", ok, left))
		}
		<-ctx.Done()
		return nil, ctx.Err()
	}
	tr := newTransitions()
	p := New(Options{OnTransition: tr.record, Dial: dial})
	k := objKey("slow")
	target := fastTarget("127.0.0.1:9")
	target.Timeout = timeout
	p.Sync(k, []Target{target})
	run(t, p)

	probetest.Eventually(t, "Unreachable", func() bool { return stateOf(p, k).Reachability == Unreachable })
	if got := stateOf(p, k).Message; got != "i/o timeout" {
		t.Errorf("Message = %q, want %q", got, "i/o timeout")
	}
	if v := badDeadline.Load(); v != nil {
		t.Errorf("dial context: %v, want a deadline of at most %v", v, timeout)
	}
}

// TestConcurrencyBound saturates a small pool with probes that hang until
// their timeout, and checks that the bound holds and that every key, fast
// or hanging, still gets its turn.
func TestConcurrencyBound(t *testing.T) {
	const (
		concurrency = 3
		hanging     = 10
	)
	good := probetest.Listen(t)
	var inFlight, maxInFlight atomic.Int64
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := maxInFlight.Load()
			if n <= m || maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		if address == good {
			return (&net.Dialer{}).DialContext(ctx, network, address)
		}
		<-ctx.Done()
		return nil, ctx.Err()
	}
	p := New(Options{Concurrency: concurrency, Dial: dial})
	var keys []cache.ObjectName
	for i := range hanging {
		k := objKey(fmt.Sprintf("hang-%d", i))
		keys = append(keys, k)
		p.Sync(k, []Target{{
			// Never dialed for real: the dialer above intercepts it.
			Address: fmt.Sprintf("127.0.0.1:%d", 1000+i),
			Period:  100 * time.Millisecond, Timeout: 100 * time.Millisecond,
			SuccessThreshold: 1, FailureThreshold: 1,
		}})
	}
	kg := objKey("good")
	p.Sync(kg, []Target{fastTarget(good)})
	run(t, p)

	probetest.Eventually(t, "good key Reachable", func() bool { return stateOf(p, kg).Reachability == Reachable })
	for _, k := range keys {
		probetest.Eventually(t, k.String()+" Unreachable", func() bool { return stateOf(p, k).Reachability == Unreachable })
		if got := stateOf(p, k).Message; got != "i/o timeout" {
			t.Errorf("%v: Message = %q, want %q", k, got, "i/o timeout")
		}
	}
	if m := maxInFlight.Load(); m > concurrency {
		t.Errorf("%d probes in flight at once, want at most %d", m, concurrency)
	} else if m < concurrency {
		t.Errorf("at most %d probes in flight; the pool of %d was never full, so the test proves nothing", m, concurrency)
	}
}

// TestRunStopsEverything checks that Run cancels hanging dials and leaves
// no goroutine behind, and that the number of goroutines does not depend
// on the number of keys.
func TestRunStopsEverything(t *testing.T) {
	const (
		concurrency = 8
		keys        = 200
	)
	before := runtime.NumGoroutine()

	var active, hangingStarted atomic.Int64
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		active.Add(1)
		defer active.Add(-1)
		if address == "127.0.0.1:1" {
			hangingStarted.Add(1)
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return &nopConn{}, nil
	}
	var probes atomic.Int64
	p := New(Options{
		Concurrency: concurrency,
		Dial:        dial,
		Observe:     func(string, time.Duration) { probes.Add(1) },
	})
	hang := fastTarget("127.0.0.1:1")
	hang.Timeout = time.Hour
	p.Sync(objKey("hang"), []Target{hang})
	for i := range keys {
		p.Sync(objKey(fmt.Sprintf("k%d", i)), []Target{fastTarget(fmt.Sprintf("127.0.0.1:%d", 2000+i))})
	}
	stop := run(t, p)

	probetest.Eventually(t, "a hanging dial and many probes", func() bool {
		return hangingStarted.Load() > 0 && probes.Load() > 2*keys
	})
	// The test's own Run goroutine, plus the workers; nothing per key.
	if g := runtime.NumGoroutine(); g > before+concurrency+2 {
		t.Errorf("%d goroutines while running %d keys, started with %d; want at most %d more",
			g, keys+1, before, concurrency+2)
	}

	stopped := make(chan struct{})
	go func() {
		stop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(probetest.WaitLimit):
		t.Fatal("Run did not return; the hanging dial was not cancelled")
	}
	if n := active.Load(); n != 0 {
		t.Errorf("%d dials still running after Run returned", n)
	}
	probetest.Eventually(t, "goroutines to exit", func() bool { return runtime.NumGoroutine() <= before })

	// Stopping is not forgetting; and a shutdown is not a failure.
	if p.Len() != keys+1 {
		t.Errorf("Len = %d after Run returned, want %d", p.Len(), keys+1)
	}
	if s := stateOf(p, objKey("hang")); s.Reachability != Unknown {
		t.Errorf("the cancelled probe was counted: %+v", s)
	}
}

// TestConcurrentRun checks that a second, concurrent Run does not start a
// second pool, and still returns when its context is done.
func TestConcurrentRun(t *testing.T) {
	p := New(Options{Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("unused")
	}})
	run(t, p)
	probetest.Eventually(t, "first Run to start", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.running
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		p.Run(ctx)
		close(done)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(probetest.WaitLimit):
		t.Fatal("second Run did not return after its context was cancelled")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running {
		t.Error("the second Run marked the first one as stopped")
	}
}

// TestSyncJudgesEachTarget: the targets of one key are probed and judged on
// their own; a target left out of the next Sync stops being probed, and a
// duplicate address is one target.
func TestSyncJudgesEachTarget(t *testing.T) {
	up, down, gone := probetest.Listen(t), probetest.RefusedAddress(t), probetest.Listen(t)
	tr := newTransitions()
	dc := newDialCounter(nil)
	p := New(Options{OnTransition: tr.record, Dial: dc.Dial})
	k := objKey("many")
	targets := []Target{fastTarget(up), fastTarget(down), fastTarget(gone), fastTarget(up)}
	if got := p.Sync(k, targets); len(got) != 4 || p.Len() != 3 {
		t.Fatalf("Sync returned %d states for %d targets", len(got), p.Len())
	}
	run(t, p)
	probetest.Eventually(t, "every target judged", func() bool {
		s := p.Sync(k, targets)
		return s[0].Reachability == Reachable && s[1].Reachability == Unreachable && s[2].Reachability == Reachable
	})
	if s := p.Sync(k, targets); s[3] != s[0] {
		t.Errorf("a duplicate address got its own state: %+v vs %+v", s[3], s[0])
	}
	if s := p.Sync(k, targets)[1]; s.Message != "connection refused" {
		t.Errorf("refused target message %q", s.Message)
	}

	p.Sync(k, targets[:2])
	if p.Len() != 2 {
		t.Fatalf("Len %d after dropping a target, want 2", p.Len())
	}
	before := dc.count(gone)
	dc.waitDials(t, up, 3)
	if n := dc.count(gone); n > before+1 { // one dial may have been in flight
		t.Errorf("a dropped target was probed %d more times", n-before)
	}
	if p.Sync(k, nil); p.Len() != 0 || hasKey(p, k) {
		t.Errorf("an empty Sync left %d targets", p.Len())
	}
}

// TestRolesAreTargetsOfTheirOwn: the same address probed for the Mydemo and
// for a role is two targets with their own checks and verdicts, and
// dropping the role's leaves the Mydemo's alone.
func TestRolesAreTargetsOfTheirOwn(t *testing.T) {
	up := probetest.Listen(t)
	p := New(Options{NewChecker: func(s check.Spec) (check.Checker, error) {
		if s.Kind == check.KindRedis {
			return failingChecker{}, nil
		}
		return check.New(s, nil)
	}})
	k := objKey("roles")
	own := fastTarget(up)
	role := fastTarget(up)
	role.Role = "master"
	role.Spec = check.Spec{Kind: check.KindRedis}
	targets := []Target{own, role}
	if p.Sync(k, targets); p.Len() != 2 {
		t.Fatalf("Len %d for one address probed for the Mydemo and a role, want 2", p.Len())
	}
	run(t, p)
	probetest.Eventually(t, "both judged", func() bool {
		s := p.Sync(k, targets)
		return s[0].Reachability == Reachable && s[1].Reachability == Unreachable
	})
	if s := p.Sync(k, targets[:1]); p.Len() != 1 || s[0].Reachability != Reachable {
		t.Errorf("dropping the role's target left Len %d and the Mydemo's verdict %v", p.Len(), s[0].Reachability)
	}
}

// failingChecker fails every probe.
type failingChecker struct{}

func (failingChecker) Check(context.Context, netip.AddrPort) error {
	return &check.Error{Message: "not the role"}
}
