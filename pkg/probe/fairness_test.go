package probe

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crddemo/crddemo/pkg/probe/check"
	"github.com/crddemo/crddemo/pkg/probe/internal/probetest"
)

// within polls cond until it holds, failing the test once limit has passed.
func within(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("not within %v: %s", limit, what)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

// The review's case: more namespaces than slots, every slot held by a
// probe of a black-holed target that ends only by its timeout, and every
// hostile namespace at its share of one. A free slot must still reach the
// namespace that has waited longest, not the one with the oldest backlog,
// or a tenant with as many namespaces as slots starves everyone else.
//
// Every slot frees at most Timeout after it was taken, and a namespace
// served while another waits goes behind it, so a due probe waits for at
// most one slot per namespace: ceil(namespaces / slots) × Timeout, plus a
// 1 s margin for a loaded machine (a connect on loopback takes
// milliseconds). The victim's first verdict must come within that; then
// its listener closes, and the next probe, due a period (and its jitter)
// after the last, must find that within the same bound on top. Before the
// fix the victim stayed Unknown.
func TestScarceSlotsReachEveryNamespace(t *testing.T) {
	const (
		concurrency = 2
		hostile     = 2 * concurrency
		perHostile  = 20
		timeout     = time.Second
		period      = 100 * time.Millisecond
		margin      = time.Second
	)
	const namespaces = hostile + 1
	bound := time.Duration((namespaces+concurrency-1)/concurrency)*timeout + margin

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	closeListener := func() {
		_ = ln.Close()
		<-accepted
	}
	t.Cleanup(closeListener)
	victimAddr := ln.Addr().String()

	// Only the hostile side is simulated: its targets are never dialed,
	// their probes hang until the timeout as a black hole's do.
	var hanging atomic.Int64
	dialer := check.NewDialer()
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		if address == victimAddr {
			return dialer.DialContext(ctx, network, address)
		}
		hanging.Add(1)
		defer hanging.Add(-1)
		<-ctx.Done()
		return nil, ctx.Err()
	}
	p := New(Options{Concurrency: concurrency, Dial: dial})
	for h := range hostile {
		targets := make([]Target, perHostile)
		for i := range targets {
			targets[i] = Target{Address: fmt.Sprintf("127.0.1.%d:80", 1+i), Period: period, Timeout: timeout,
				SuccessThreshold: 1, FailureThreshold: 1}
		}
		p.Sync(nsKey(fmt.Sprintf("hostile-%d", h), 0), targets)
	}
	run(t, p)
	probetest.Eventually(t, "the hostile namespaces to fill every slot", func() bool { return hanging.Load() == concurrency })

	victim := nsKey("victim", 0)
	p.Sync(victim, []Target{{Address: victimAddr, Period: period, Timeout: timeout, SuccessThreshold: 1, FailureThreshold: 1}})
	took := within(t, bound, "the victim's first verdict", func() bool { return stateOf(p, victim).Reachability == Reachable })
	t.Logf("first verdict after %v (limit %v)", took.Round(time.Millisecond), bound)

	closeListener()
	limit := period + period/maxPeriodJitter + bound
	took = within(t, limit, "the victim's target judged down", func() bool { return stateOf(p, victim).Reachability == Unreachable })
	t.Logf("judged down after %v (limit %v)", took.Round(time.Millisecond), limit)
}

// TestSaturationCause: a probe late because its namespace used its share
// while slots stayed free is counted apart from one late because every
// slot was in use, so that one tenant's hanging targets do not look like
// an engine that needs more slots.
//
// The hanging probes end by their timeout, so the waiting ones start
// about timeout late, well past saturationLateness; the period is long
// enough that no target is probed twice.
func TestSaturationCause(t *testing.T) {
	const (
		timeout = 1500 * time.Millisecond
		period  = time.Minute
	)
	cases := []struct {
		name        string
		concurrency int
		// targets of namespace "greedy", each hanging until its
		// timeout; "quiet" has one target that answers at once.
		greedy int
		quiet  bool
		want   string
	}{
		// Two namespaces: greedy's share is 2 of the 4 slots, quiet uses
		// at most 1, so a slot is always free.
		{name: "namespace share", concurrency: 4, greedy: 6, quiet: true, want: SaturationNamespaceShare},
		// One namespace holds every slot: the engine is full.
		{name: "engine", concurrency: 2, greedy: 4, want: SaturationEngine},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var mu sync.Mutex
			causes := map[string]int{}
			p := New(Options{
				Concurrency: c.concurrency,
				Jitter:      zeroJitter,
				Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
					// Never dialed for real: it hangs as a black
					// hole does, until the timeout.
					if address == "127.0.0.1:1" {
						<-ctx.Done()
						return nil, ctx.Err()
					}
					return (&net.Dialer{}).DialContext(ctx, network, address)
				},
				ObserveSaturated: func(cause string) {
					mu.Lock()
					defer mu.Unlock()
					causes[cause]++
				},
			})
			for i := range c.greedy {
				p.Sync(nsKey("greedy", i), []Target{{Address: "127.0.0.1:1", Period: period, Timeout: timeout,
					SuccessThreshold: 1, FailureThreshold: 1}})
			}
			if c.quiet {
				p.Sync(nsKey("quiet", 0), []Target{{Address: probetest.Listen(t), Period: period, Timeout: timeout,
					SuccessThreshold: 1, FailureThreshold: 1}})
			}
			run(t, p)
			// Every greedy target beyond the slots it may hold waits for
			// one probe's timeout at least.
			probetest.Eventually(t, "a late probe", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return causes[c.want] > 0
			})
			mu.Lock()
			defer mu.Unlock()
			for cause, n := range causes {
				if cause != c.want {
					t.Errorf("%d late probes counted as %q, want all as %q", n, cause, c.want)
				}
			}
		})
	}
}
