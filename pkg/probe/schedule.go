package probe

import (
	"context"
	"net/netip"
	"time"

	"k8s.io/client-go/tools/cache"

	"github.com/crddemo/crddemo/pkg/fairshare"
)

// entry is the schedule and judgement of one key. Fields other than key and
// timeout are guarded by Prober.mu.
//
// An entry is never reused for another address or timeout: Ensure replaces
// it with a fresh one. A probe in flight holds a pointer to the entry it was
// started for, so once that entry is marked removed its result is dropped
// without comparing generations.
type entry struct {
	// key and timeout are set at creation and never change, so a worker
	// may read them without the lock.
	key     cache.ObjectName
	timeout time.Duration
	// addr is the parsed Address, or addrErr says why it is not one;
	// both are set at creation and never change.
	addr    netip.AddrPort
	addrErr error

	// Item holds the entry's place in the schedule: its due time, its
	// namespace, and whether it was removed, or taken back while in flight
	// (its result is then dropped and it is due again at once).
	fairshare.Item[*entry]

	sched schedule
	// check is the Checker shared by every entry with the same spec. The
	// entry keeps no copy of the spec: its identity is check.key.
	check  *checkerRef
	health tracker

	// last is when the most recent probe was due (zero before the first).
	// Measuring the period from the due time rather than from the end of
	// the probe keeps the schedule from drifting by the dial duration.
	last time.Time

	// started is when the probe in flight (or the last one) started. A
	// probe that started late counts its next period from its start, so
	// that targets which fell due together, and waited for slots, come
	// due next time spread as they were served, instead of in a burst.
	started time.Time

	// waitedForEngine says whether every slot was in use at some time
	// between the probe in flight's due time and its start (see
	// popDueLocked): the cause its lateness is counted under.
	waitedForEngine bool

	// cancel aborts the dial in flight, if any, so Forget frees the worker
	// at once instead of after Timeout.
	cancel context.CancelFunc
}

// schedule is the single scheduler goroutine. It hands due entries to the
// workers one at a time, so that entries stay in the heap (where Forget
// and Ensure can still reach them cheaply) until a worker is actually free
// to take them, and the next one is chosen by the rules of fairness.go.
func (p *Prober) schedule(ctx context.Context) {
	for ctx.Err() == nil {
		e, due, pending := p.popDue()
		if e == nil {
			p.waiter.Wait(ctx, due, pending)
			continue
		}
		select {
		case p.work <- e:
		case <-ctx.Done():
			p.putBack(e)
			return
		}
	}
}

// popDue takes the next entry that may start now (see popDueLocked) out
// of its queue.
func (p *Prober) popDue() (e *entry, due time.Time, pending bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.popDueLocked(p.clock.Now())
}

// putBack returns an entry that was taken out but never reached a worker
// because the prober stopped; it stays due so a later Run probes it first.
func (p *Prober) putBack(e *entry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.doneLocked(e)
	if !e.Removed() {
		p.sched.Queue(e, e.Due())
	}
}

// requeueLocked schedules the probe after the one that just finished: one
// period after its due time (or after its start, if it started late), or
// one edge interval while a streak contradicts the verdict (see
// tracker.onEdge), moved by a little jitter every time (see
// maxPeriodJitter).
func (p *Prober) requeueLocked(e *entry, now time.Time) {
	from := e.last
	if e.started.After(from) {
		from = e.started
	}
	interval := e.sched.Period
	if edge := e.sched.EdgeInterval; edge > 0 && edge < interval && e.health.onEdge(e.sched.SuccessThreshold, e.sched.FailureThreshold) {
		interval = edge
	}
	next := from.Add(interval + p.periodJitter(interval))
	// A probe that waited for a worker, or took longer than the period,
	// is followed by a single catch-up probe, not by a burst.
	if next.Before(now) {
		next = now
	}
	p.sched.Queue(e, next)
	p.waiter.Nudge()
}
