package probe

import "time"

// Fairness between tenants.
//
// The probe slots (Concurrency) are shared between namespaces by
// pkg/fairshare, which states the rule and its bound: each namespace holds
// at most ceil(Concurrency / namespaces with targets) probes at once, a
// free slot goes to the namespace with the fewest in flight and then to
// the one served least recently, and a due probe starts within
// ceil(namespaces / Concurrency) × the longest Timeout of any target.
//
// What the probe engine adds: a probe taken back for a newcomer is
// cancelled and queued again at once, and its result is dropped, not
// counted as a failure (see retryPreemptedLocked). The share is not lent
// out while several namespaces have targets, so Concurrency is sized for
// the busiest namespace (see docs/architecture.md).

// popDueLocked takes the next entry to probe (see fairshare.Scheduler.Pop)
// and records the due time the probe is for, which the next period counts
// from.
func (p *Prober) popDueLocked(now time.Time) (e *entry, due time.Time, pending bool) {
	e, due, pending = p.sched.Pop(now)
	if e != nil {
		e.last = e.Due()
		// Full at some time since it was due: the engine had no slot
		// for it. Otherwise slots were free while it waited, and only
		// its namespace's share held it.
		e.waitedForEngine = !p.lastFull.Before(e.last)
	}
	return e, due, pending
}

// doneLocked gives back the slot e held; the scheduler is nudged, since
// e's namespace, or another, may probe now. A slot freed from a full
// engine records when it was last full (see popDueLocked).
func (p *Prober) doneLocked(e *entry) {
	if p.sched.InFlight() >= p.concurrency {
		p.lastFull = p.clock.Now()
	}
	p.sched.Done(e)
}

// cancelProbe takes back a probe in flight for another namespace. A
// cancelled probe gives its slot back when its checker returns, which is
// at once: every Checker ends with its context. One handed to a worker
// that has not started it yet has no context to cancel; the worker sees
// that it was taken back before it dials.
func cancelProbe(e *entry) {
	if e.cancel != nil {
		e.cancel()
	}
}
