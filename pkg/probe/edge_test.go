package probe

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	"github.com/crddemo/crddemo/pkg/probe/check"
	"github.com/crddemo/crddemo/pkg/probe/internal/probetest"
)

// TestEdgeInterval runs one target on a fake clock through a scripted
// series of results and checks when every probe happens and when the
// verdict turns. After the first result that contradicts the verdict the
// target is probed at the edge interval until the threshold is met (then
// back to the period) or the streak breaks (back to the period too); at
// rest it is probed at the period only.
func TestEdgeInterval(t *testing.T) {
	const (
		period = 10 * time.Second
		edge   = time.Second
	)
	at := func(d time.Duration) time.Time { return epoch.Add(d) }
	cases := []struct {
		name string
		edge time.Duration
		// results of the probes, in order, and when each must happen
		results []bool
		times   []time.Duration
		// when the verdict must change, and to what
		turns []time.Duration
		final Reachability
	}{{
		name:    "down within period plus two edge intervals, up within period plus one",
		edge:    edge,
		results: []bool{true, false, false, false, false, true, true, true},
		times:   []time.Duration{0, 10 * time.Second, 11 * time.Second, 12 * time.Second, 22 * time.Second, 32 * time.Second, 33 * time.Second, 43 * time.Second},
		// Reachable at once, Unreachable on the third failure in a row,
		// Reachable on the second success in a row.
		turns: []time.Duration{0, 12 * time.Second, 33 * time.Second},
		final: Reachable,
	}, {
		name:    "a single lost probe costs one edge probe and changes nothing",
		edge:    edge,
		results: []bool{true, false, true, true},
		times:   []time.Duration{0, 10 * time.Second, 11 * time.Second, 21 * time.Second},
		turns:   []time.Duration{0},
		final:   Reachable,
	}, {
		name:    "without an edge interval every probe waits the period",
		results: []bool{true, false, false, false, true},
		times:   []time.Duration{0, 10 * time.Second, 20 * time.Second, 30 * time.Second, 40 * time.Second},
		turns:   []time.Duration{0, 30 * time.Second},
		final:   Unreachable,
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fc := testingclock.NewFakeClock(epoch)
			calls := make(chan dialCall, len(tc.results))
			var mu sync.Mutex
			n := 0
			var observed atomic.Int64
			errDown := errors.New("connection refused")
			p := New(Options{
				Clock:        fc,
				Jitter:       zeroJitter,
				PeriodJitter: func(time.Duration) time.Duration { return 0 },
				NewChecker: func(check.Spec) (check.Checker, error) {
					return checkFunc(func(_ context.Context, addr netip.AddrPort) error {
						mu.Lock()
						i := n
						n++
						mu.Unlock()
						calls <- dialCall{addr.String(), fc.Now()}
						if i < len(tc.results) && !tc.results[i] {
							return errDown
						}
						return nil
					}), nil
				},
				Observe: func(string, time.Duration) { observed.Add(1) },
			})
			const addr = "127.0.0.1:9"
			target := Target{Address: addr, Period: period, EdgeInterval: tc.edge, Timeout: time.Second,
				SuccessThreshold: 2, FailureThreshold: 3}
			p.Sync(objKey("a"), []Target{target})
			run(t, p)
			// The clock moves only once the previous result is recorded,
			// so every verdict's Since is the time of the probe that
			// made it.
			var turns []time.Duration
			last := Unknown
			for i, d := range tc.times {
				if i > 0 {
					fc.Step(d - tc.times[i-1])
				}
				expectCall(t, calls, addr, at(d))
				probetest.Eventually(t, "the result to be recorded", func() bool { return observed.Load() == int64(i+1) })
				s := p.Sync(objKey("a"), []Target{target})[0]
				if s.Reachability != last {
					turns = append(turns, s.Since.Sub(epoch))
					last = s.Reachability
				}
			}
			// Nothing is probed before the next period.
			fc.Step(period - time.Nanosecond)
			select {
			case c := <-calls:
				t.Fatalf("probed at +%v, before a period had passed since +%v", c.at.Sub(epoch), tc.times[len(tc.times)-1])
			case <-time.After(50 * time.Millisecond):
			}
			if last != tc.final {
				t.Errorf("final verdict %v, want %v", last, tc.final)
			}
			if len(turns) != len(tc.turns) {
				t.Fatalf("verdict turned at %v, want %v", turns, tc.turns)
			}
			for i := range turns {
				if turns[i] != tc.turns[i] {
					t.Errorf("verdict turned at %v, want %v", turns, tc.turns)
					break
				}
			}
		})
	}
}

// TestOnEdge pins the rule itself: probes move only between the first
// contrary result and the threshold.
func TestOnEdge(t *testing.T) {
	cases := []struct {
		state               Reachability
		successes, failures int
		want                bool
	}{
		{Unknown, 0, 0, false},
		{Reachable, 1, 0, false},
		{Reachable, 0, 1, true},
		{Reachable, 0, 2, true},
		{Reachable, 0, 3, false},
		{Unreachable, 0, 5, false},
		{Unreachable, 1, 0, true},
		{Unreachable, 2, 0, false},
	}
	for _, tc := range cases {
		tr := tracker{state: State{Reachability: tc.state}, successes: tc.successes, failures: tc.failures}
		if got := tr.onEdge(2, 3); got != tc.want {
			t.Errorf("%v with %d successes and %d failures in a row: onEdge = %v, want %v",
				tc.state, tc.successes, tc.failures, got, tc.want)
		}
	}
}
