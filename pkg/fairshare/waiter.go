package fairshare

import (
	"context"
	"time"

	"k8s.io/utils/clock"
)

// Waiter puts a dispatch loop to sleep until its next item falls due or
// something that may change that (a new item, a slot coming back) nudges
// it. The prober and the resolver each run one loop of the same shape,
// Pop then Wait, around their Scheduler; the Waiter is that loop's half
// that does not need the caller's lock.
//
// One goroutine calls Wait; Nudge may be called from any goroutine, with
// or without the caller's lock held.
type Waiter struct {
	clock clock.WithTicker
	timer clock.Timer
	// wake has room for one nudge: one pending is enough, because the
	// loop looks at the whole head of its Scheduler when it wakes.
	wake chan struct{}
}

// NewWaiter returns a Waiter on clk.
func NewWaiter(clk clock.WithTicker) *Waiter {
	t := clk.NewTimer(time.Hour)
	stopTimer(t)
	return &Waiter{clock: clk, timer: t, wake: make(chan struct{}, 1)}
}

// Nudge wakes the waiting loop, or the next Wait, at once. It never blocks.
func (w *Waiter) Nudge() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Wait returns when ctx is done, when Nudge is called, or, if pending,
// once due has come: the three outcomes of Scheduler.Pop that gave the
// loop nothing to start now.
func (w *Waiter) Wait(ctx context.Context, due time.Time, pending bool) {
	stopTimer(w.timer)
	if pending {
		wait := due.Sub(w.clock.Now())
		if wait <= 0 {
			return
		}
		w.timer.Reset(wait)
		// The clock may have moved between reading it and arming the
		// timer (a fake clock can jump by hours): re-check, so the item
		// is not left waiting for a timer set too late.
		if !w.clock.Now().Before(due) {
			return
		}
	}
	select {
	case <-ctx.Done():
		w.timer.Stop()
	case <-w.wake:
	case <-w.timer.C():
	}
}

// stopTimer stops t and drains a tick that may already be buffered, so the
// next Reset starts clean. Real timers never leave one behind, but fake
// clocks do, and a full channel there would block the clock's Step.
func stopTimer(t clock.Timer) {
	t.Stop()
	select {
	case <-t.C():
	default:
	}
}
