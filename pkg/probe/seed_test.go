package probe

import (
	"testing"
	"time"

	"github.com/crddemo/crddemo/pkg/probe/internal/probetest"
)

// TestSeedKeepsVerdictUntilThresholds: a seeded Reachable key is not made
// Unreachable by a single failure when the failure threshold is higher,
// unlike a fresh key whose first result decides.
func TestSeedKeepsVerdictUntilThresholds(t *testing.T) {
	refused := probetest.RefusedAddress(t)
	tr := newTransitions()
	dc := newDialCounter(nil)
	p := New(Options{OnTransition: tr.record, Dial: dc.Dial, Jitter: zeroJitter})
	k := objKey("seeded")
	target := fastTarget(refused)
	target.FailureThreshold = 3
	since := time.Now().Add(-time.Hour)
	target.Seed = State{Reachability: Reachable, Message: "ignored", Since: since}
	if s := p.Sync(k, []Target{target})[0]; s.Reachability != Reachable || s.Message != "" || !s.Since.Equal(since) {
		t.Fatalf("seeded state %+v", s)
	}
	run(t, p)
	dc.waitDials(t, refused, 2)
	if s := stateOf(p, k); s.Reachability != Reachable {
		t.Fatalf("two failures under a threshold of 3 flipped a seeded key: %+v", s)
	}
	probetest.Eventually(t, "Unreachable after the threshold", func() bool { return stateOf(p, k).Reachability == Unreachable })
	if n := tr.count(k); n != 1 {
		t.Errorf("%d transitions, want 1", n)
	}
	// A target the prober already judges ignores a seed.
	target.Seed = State{Reachability: Reachable}
	if s := p.Sync(k, []Target{target})[0]; s.Reachability != Unreachable {
		t.Errorf("a seed overrode the prober's own verdict: %+v", s)
	}
}

// TestNewAddressProbedAtOnce: a changed target is probed immediately, not
// after a fresh jitter of up to a whole period.
func TestNewAddressProbedAtOnce(t *testing.T) {
	first, second := probetest.Listen(t), probetest.Listen(t)
	dc := newDialCounter(nil)
	p := New(Options{Dial: dc.Dial, Jitter: func(period time.Duration) time.Duration { return period - 1 }})
	k := objKey("moved")
	slow := fastTarget(first)
	slow.Period = time.Hour
	// Seeded, so the first address waits its jitter (almost the whole
	// period) instead of being probed as Run starts.
	slow.Seed = State{Reachability: Reachable}
	p.Sync(k, []Target{slow})
	run(t, p)
	slow.Address = second
	p.Sync(k, []Target{slow})
	probetest.Eventually(t, "the new address probed", func() bool { return stateOf(p, k).Reachability == Reachable })
	if n := dc.count(first); n != 0 {
		t.Errorf("old address probed %d times", n)
	}
}

// TestNewTimeoutKeepsVerdict: only the address decides whether old results
// still hold.
func TestNewTimeoutKeepsVerdict(t *testing.T) {
	addr := probetest.Listen(t)
	p := New(Options{Jitter: zeroJitter})
	k := objKey("timeout")
	target := fastTarget(addr)
	p.Sync(k, []Target{target})
	run(t, p)
	probetest.Eventually(t, "Reachable", func() bool { return stateOf(p, k).Reachability == Reachable })
	target.Timeout = 2 * time.Second
	p.Sync(k, []Target{target})
	if s := stateOf(p, k); s.Reachability != Reachable {
		t.Errorf("a timeout change reset the verdict: %+v", s)
	}
}
