package probe

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/tools/cache"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/crddemo/crddemo/pkg/probe/check"
	"github.com/crddemo/crddemo/pkg/probe/internal/probetest"
)

// checkFunc adapts a function to Checker.
type checkFunc func(ctx context.Context, addr netip.AddrPort) error

func (f checkFunc) Check(ctx context.Context, addr netip.AddrPort) error { return f(ctx, addr) }

// TestCheckersSharedPerSpec: targets with the same spec share one Checker,
// a spec change builds a new one (and judges the target afresh), and the
// last target of a spec drops its Checker.
func TestCheckersSharedPerSpec(t *testing.T) {
	var built atomic.Int64
	p := New(Options{NewChecker: func(s check.Spec) (check.Checker, error) {
		built.Add(1)
		return checkFunc(func(context.Context, netip.AddrPort) error { return nil }), nil
	}})
	health := check.Spec{Kind: check.KindHTTP, HTTP: &check.HTTPSpec{Path: "/healthz"}}
	target := func(addr string, s check.Spec) Target {
		t := fastTarget(addr)
		t.Spec = s
		return t
	}
	a, b := objKey("a"), objKey("b")
	p.Sync(a, []Target{target("127.0.0.1:1", health), target("127.0.0.2:1", health)})
	// An equal spec built anew, as the controller does on every sync.
	p.Sync(b, []Target{target("127.0.0.3:1", check.Spec{Kind: check.KindHTTP, HTTP: &check.HTTPSpec{Path: "/healthz"}})})
	if n := len(p.checkers); n != 1 || built.Load() != 1 {
		t.Fatalf("%d checkers (%d built) for one spec, want 1", n, built.Load())
	}

	run(t, p)
	probetest.Eventually(t, "b Reachable", func() bool { return stateOf(p, b).Reachability == Reachable })
	other := check.Spec{Kind: check.KindHTTP, HTTP: &check.HTTPSpec{Path: "/ready"}}
	if s := p.Sync(b, []Target{target("127.0.0.3:1", other)}); s[0].Reachability != Unknown {
		t.Errorf("after a spec change: %+v, want Unknown (a new check is judged afresh)", s[0])
	}
	if n := len(p.checkers); n != 2 || built.Load() != 2 {
		t.Errorf("%d checkers (%d built) after a spec change, want 2", n, built.Load())
	}
	p.Forget(a)
	p.Forget(b)
	if n := len(p.checkers); n != 0 {
		t.Errorf("%d checkers kept after every target was forgotten", n)
	}
}

// TestInvalidSpecIsTheProbeFailure: a spec that cannot build a Checker
// (here a CA bundle without a certificate) fails the endpoint with the
// reason, the same text on every probe, so there is one transition.
func TestInvalidSpecIsTheProbeFailure(t *testing.T) {
	tr := newTransitions()
	var probes atomic.Int64
	p := New(Options{OnTransition: tr.record, Observe: func(string, time.Duration) { probes.Add(1) }})
	k := objKey("bad-ca")
	target := fastTarget(probetest.RefusedAddress(t))
	target.Spec = check.Spec{Kind: check.KindHTTPS, TLS: &check.TLSSpec{CABundle: []byte("not PEM")}}
	p.Sync(k, []Target{target})
	run(t, p)
	probetest.Eventually(t, "Unreachable", func() bool { return stateOf(p, k).Reachability == Unreachable })
	const want = "invalid probe: caBundle: no PEM certificate"
	if got := stateOf(p, k).Message; got != want {
		t.Errorf("Message = %q, want %q", got, want)
	}
	probetest.Eventually(t, "more probes", func() bool { return probes.Load() >= 3 })
	if n := tr.count(k); n != 1 {
		t.Errorf("%d transitions, want 1: the message must not change from probe to probe", n)
	}
}

// TestEveryPeriodJittered drives the schedule by hand: the interval between
// two probes of one target is the period moved by at most period/20, and
// two targets created in the same instant do not stay in step.
func TestEveryPeriodJittered(t *testing.T) {
	const (
		period = 10 * time.Second
		rounds = 50
	)
	fc := testingclock.NewFakeClock(epoch)
	p := New(Options{Clock: fc})
	a, b := fastTarget("127.0.0.1:1"), fastTarget("127.0.0.1:2")
	a.Period, b.Period = period, period
	p.Sync(objKey("a"), []Target{a})
	p.Sync(objKey("b"), []Target{b})

	last := map[string]time.Time{}
	inStep := 0
	far := epoch.Add(1000 * period)
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range 2 * rounds {
		e, _, _ := p.popDueLocked(far)
		if e == nil {
			t.Fatalf("round %d: nothing due", i)
		}
		addr := e.sched.Address
		if prev, ok := last[addr]; ok {
			d := e.last.Sub(prev)
			if d < period-period/20 || d > period+period/20 {
				t.Fatalf("%s: interval %v, want %v ± %v", addr, d, period, period/20)
			}
		}
		last[addr] = e.last
		if i%2 == 1 && last["127.0.0.1:1"].Equal(last["127.0.0.1:2"]) {
			inStep++
		}
		p.doneLocked(e)
		p.requeueLocked(e, e.last)
	}
	if inStep > 1 { // they start together: the first round is in step
		t.Errorf("two targets created together were probed in the same instant in %d of %d rounds", inStep, rounds)
	}
}

// TestPeriodJitterOnTheClock runs the scheduler on a fake clock with a
// fixed jitter and checks that the second probe waits for it.
func TestPeriodJitterOnTheClock(t *testing.T) {
	fc := testingclock.NewFakeClock(epoch)
	calls := make(chan dialCall, 16)
	const period = 4 * time.Second
	p := New(Options{
		Clock:        fc,
		NewChecker:   recordingChecker(fc, calls),
		PeriodJitter: func(p time.Duration) time.Duration { return p / 20 },
	})
	const addr = "127.0.0.1:9"
	p.Sync(objKey("a"), []Target{{Address: addr, Period: period, Timeout: time.Minute}})
	run(t, p)
	expectCall(t, calls, addr, epoch)
	fc.Step(period)
	select {
	case c := <-calls:
		t.Fatalf("probed at +%v, before the jitter of %v", c.at.Sub(epoch), period/20)
	case <-time.After(50 * time.Millisecond):
	}
	fc.Step(period / 20)
	expectCall(t, calls, addr, epoch.Add(period+period/20))
}

func recordingChecker(fc *testingclock.FakeClock, calls chan<- dialCall) func(check.Spec) (check.Checker, error) {
	return func(check.Spec) (check.Checker, error) {
		return checkFunc(func(_ context.Context, addr netip.AddrPort) error {
			calls <- dialCall{addr.String(), fc.Now()}
			return nil
		}), nil
	}
}

// TestNoTenantStarvesAnother is the hostile-tenant case of the engine: a
// namespace whose many targets hang for a timeout as long as their period
// must not delay another namespace's probes. The other namespace's targets
// go down, and each must be judged Unreachable within period × threshold
// (plus one period of phase) plus a second. Without fair shares the hostile
// probes hold every slot for an hour and the victims are never probed.
func TestNoTenantStarvesAnother(t *testing.T) {
	const (
		concurrency = 20
		hostile     = 200 // ten times the slots
		victims     = 5
		period      = 100 * time.Millisecond
		threshold   = 3
	)
	var (
		down     atomic.Bool
		hanging  atomic.Int64
		maxHangs atomic.Int64
	)
	errDown := errors.New("connection refused")
	checker := checkFunc(func(ctx context.Context, addr netip.AddrPort) error {
		if addr.Addr().As4()[2] == 1 { // 127.0.1.x: the hostile tenant
			n := hanging.Add(1)
			defer hanging.Add(-1)
			for m := maxHangs.Load(); n > m && !maxHangs.CompareAndSwap(m, n); m = maxHangs.Load() {
			}
			<-ctx.Done()
			return ctx.Err()
		}
		if down.Load() {
			return errDown
		}
		return nil
	})
	p := New(Options{Concurrency: concurrency, NewChecker: func(check.Spec) (check.Checker, error) { return checker, nil }})
	for i := range hostile {
		p.Sync(nsKey("hostile", i), []Target{{
			Address: fmt.Sprintf("127.0.1.%d:80", 1+i%250), Period: time.Hour, Timeout: time.Hour,
			SuccessThreshold: 1, FailureThreshold: 1,
		}})
	}
	run(t, p)
	// Alone, the hostile tenant may use every slot.
	probetest.Eventually(t, "the hostile tenant to fill the pool", func() bool { return hanging.Load() == concurrency })

	for i := range victims {
		tg := Target{Address: fmt.Sprintf("127.0.2.%d:80", 1+i), Period: period, Timeout: time.Second,
			SuccessThreshold: 1, FailureThreshold: threshold}
		p.Sync(nsKey("victim", i), []Target{tg})
	}
	for i := range victims {
		probetest.Eventually(t, "victim Reachable", func() bool { return stateOf(p, nsKey("victim", i)).Reachability == Reachable })
	}
	// The victims' arrival took back the slots beyond the hostile
	// tenant's share; from now on it holds at most that.
	probetest.Eventually(t, "slots taken back", func() bool { return hanging.Load() <= concurrency/2 })
	maxHangs.Store(hanging.Load())
	down.Store(true)
	wentDown := time.Now()
	limit := period*threshold + period + time.Second
	var wg sync.WaitGroup
	for i := range victims {
		wg.Go(func() {
			for stateOf(p, nsKey("victim", i)).Reachability != Unreachable {
				if time.Since(wentDown) > limit {
					t.Errorf("victim %d still Reachable %v after its target went down, want at most %v", i, time.Since(wentDown), limit)
					return
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	wg.Wait()
	t.Logf("victims judged within %v (limit %v)", time.Since(wentDown).Round(time.Millisecond), limit)
	if m := maxHangs.Load(); m > concurrency/2 {
		t.Errorf("the hostile tenant held %d slots at once, want at most its share of %d", m, concurrency/2)
	}
}

func nsKey(namespace string, i int) cache.ObjectName {
	return cache.ObjectName{Namespace: namespace, Name: fmt.Sprintf("md-%d", i)}
}
