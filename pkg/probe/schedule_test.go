package probe

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	"github.com/crddemo/crddemo/pkg/probe/internal/probetest"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type dialCall struct {
	address string
	at      time.Time
}

// expectCall waits for the next dial and checks where and when (on the
// fake clock) it happened. Recording the fake time makes a probe fired too
// early visible, without any sleep.
func expectCall(t *testing.T, calls <-chan dialCall, address string, at time.Time) {
	t.Helper()
	select {
	case c := <-calls:
		if c.address != address || !c.at.Equal(at) {
			t.Fatalf("dial of %s at +%v, want %s at +%v", c.address, c.at.Sub(epoch), address, at.Sub(epoch))
		}
	case <-time.After(probetest.WaitLimit):
		t.Fatalf("no dial of %s at +%v", address, at.Sub(epoch))
	}
}

func TestSchedulePeriodAndJitter(t *testing.T) {
	fc := testingclock.NewFakeClock(epoch)
	calls := make(chan dialCall, 16)
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		calls <- dialCall{address, fc.Now()}
		return &nopConn{}, nil
	}
	p := New(Options{
		Clock: fc,
		Dial:  dial,
		// A quarter period, to see that the first probe waits for it.
		Jitter:       func(period time.Duration) time.Duration { return period / 4 },
		PeriodJitter: zeroJitter,
	})
	const addr = "127.0.0.1:9"
	k := objKey("a")
	// Seeded, as after a restart: only then does the first probe wait
	// for the jitter (a new target is probed at once).
	target := Target{Address: addr, Period: 4 * time.Second, Timeout: time.Minute,
		Seed: State{Reachability: Unreachable}}
	p.Sync(k, []Target{target})
	run(t, p)

	fc.Step(time.Second)
	expectCall(t, calls, addr, epoch.Add(time.Second))
	// Halfway through the period nothing is due; at its end the probe is.
	fc.Step(2 * time.Second)
	fc.Step(2 * time.Second)
	expectCall(t, calls, addr, epoch.Add(5*time.Second))

	// A longer period counts from the last probe.
	target.Period = 10 * time.Second
	p.Sync(k, []Target{target})
	fc.Step(5 * time.Second)
	fc.Step(5 * time.Second)
	expectCall(t, calls, addr, epoch.Add(15*time.Second))

	// So does a shorter one.
	target.Period = 2 * time.Second
	p.Sync(k, []Target{target})
	fc.Step(2 * time.Second)
	expectCall(t, calls, addr, epoch.Add(17*time.Second))

	// The verdict is recorded when the first probe returns, on the fake
	// clock, which the test may have stepped on by then: between +1s and
	// the second probe at +5s.
	if s := stateOf(p, k); s.Reachability != Reachable || s.Since.Before(epoch.Add(time.Second)) || s.Since.After(epoch.Add(5*time.Second)) {
		t.Errorf("State = %+v, want Reachable since the first probe (+1s to +5s)", s)
	}
	select {
	case c := <-calls:
		t.Errorf("unexpected dial of %s at +%v", c.address, c.at.Sub(epoch))
	default:
	}
}

// TestNoOverlapAndCatchUp checks that a key whose probe outlives several
// periods is not probed again meanwhile, and is then probed once at once
// rather than once per missed period.
func TestNoOverlapAndCatchUp(t *testing.T) {
	fc := testingclock.NewFakeClock(epoch)
	const (
		slowAddr   = "127.0.0.1:1"
		markerAddr = "127.0.0.1:2"
		period     = time.Second
	)
	calls := make(chan dialCall, 16)
	release := make(chan struct{})
	var held atomic.Bool
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		calls <- dialCall{address, fc.Now()}
		if address == slowAddr && held.CompareAndSwap(false, true) {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return &nopConn{}, nil
	}
	p := New(Options{Clock: fc, Dial: dial, Jitter: zeroJitter, PeriodJitter: zeroJitter, Concurrency: 4})
	p.Sync(objKey("slow"), []Target{Target{Address: slowAddr, Period: period, Timeout: time.Minute}})
	run(t, p)
	expectCall(t, calls, slowAddr, epoch)

	fc.Step(3 * period)
	// The marker is due now. Had the slow key been put back while its
	// probe hangs, it would be due earlier and be dialed first.
	p.Sync(objKey("marker"), []Target{Target{Address: markerAddr, Period: time.Hour, Timeout: time.Minute}})
	expectCall(t, calls, markerAddr, epoch.Add(3*period))

	close(release)
	expectCall(t, calls, slowAddr, epoch.Add(3*period))
	fc.Step(period)
	expectCall(t, calls, slowAddr, epoch.Add(4*period))
}
