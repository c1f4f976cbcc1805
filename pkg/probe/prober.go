package probe

import (
	"container/heap"
	"context"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// Defaults for fields left at zero. The Mydemo API always sets the probe
// fields, so these only keep a careless caller from busy-looping; they
// match the API defaults.
const (
	defaultConcurrency      = 100
	defaultPeriod           = 10 * time.Second
	defaultTimeout          = time.Second
	defaultSuccessThreshold = 1
	defaultFailureThreshold = 3
)

// Target is what to probe and how.
type Target struct {
	// Address is "ip:port", as produced by net.JoinHostPort.
	Address string
	// Period is the time between the due times of two probes.
	Period time.Duration
	// Timeout bounds one connection attempt.
	Timeout time.Duration
	// SuccessThreshold is how many consecutive successes turn Unreachable
	// into Reachable.
	SuccessThreshold int
	// FailureThreshold is how many consecutive failures turn Reachable
	// into Unreachable.
	FailureThreshold int
}

// withDefaults fills zero or negative fields, so that comparing two targets
// compares what will actually be done.
func (t Target) withDefaults() Target {
	if t.Period <= 0 {
		t.Period = defaultPeriod
	}
	if t.Timeout <= 0 {
		t.Timeout = defaultTimeout
	}
	if t.SuccessThreshold < 1 {
		t.SuccessThreshold = defaultSuccessThreshold
	}
	if t.FailureThreshold < 1 {
		t.FailureThreshold = defaultFailureThreshold
	}
	return t
}

// Options configure a Prober. Every field may be left at its zero value.
type Options struct {
	// Concurrency is the most probes in flight at once; <= 0 means 100.
	Concurrency int
	// OnTransition is called whenever the Reachability of a key changes,
	// including the first change away from Unknown. It runs on a worker
	// goroutine without any lock held, so it may call State, but it holds
	// up that worker: it should only enqueue the key somewhere.
	OnTransition func(key cache.ObjectName)
	// Clock drives scheduling and the Since timestamps; nil means the real
	// clock. Dial timeouts always use real time, since they are context
	// deadlines.
	Clock clock.WithTicker
	// Dial opens the probe connection; nil means (&net.Dialer{}).DialContext.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// Observe, if set, is told the outcome ("success" or "failure") and
	// duration of every probe whose result counted. It runs on a worker
	// goroutine without any lock held.
	Observe func(result string, d time.Duration)
	// Jitter, if set, returns the delay before the first probe of a new
	// key, given its period; results outside [0, period) are clamped. It
	// is called with the prober's lock held, so it must be quick. nil
	// means uniformly random, which spreads keys created together over a
	// whole period.
	Jitter func(period time.Duration) time.Duration
}

// Prober probes many targets from a bounded pool of goroutines. Its
// methods may be called from any goroutine.
type Prober struct {
	clock        clock.WithTicker
	dial         func(ctx context.Context, network, address string) (net.Conn, error)
	onTransition func(key cache.ObjectName)
	observe      func(result string, d time.Duration)
	jitterFunc   func(period time.Duration) time.Duration
	concurrency  int

	// work hands due entries from the scheduler to the workers. It is
	// unbuffered so an entry only leaves the heap when a worker is free.
	work chan *entry
	// wake has room for one nudge; see nudge.
	wake chan struct{}

	// mu guards everything below and the mutable fields of every entry.
	// It is only held for map and heap operations, never across a dial or
	// a callback, so a slow target cannot block Ensure, Forget or State.
	mu      sync.Mutex
	entries map[cache.ObjectName]*entry
	queue   dueQueue
	running bool
}

// New returns a Prober that probes nothing until Run is called.
func New(opts Options) *Prober {
	p := &Prober{
		clock:        opts.Clock,
		dial:         opts.Dial,
		onTransition: opts.OnTransition,
		observe:      opts.Observe,
		jitterFunc:   opts.Jitter,
		concurrency:  opts.Concurrency,
		work:         make(chan *entry),
		wake:         make(chan struct{}, 1),
		entries:      make(map[cache.ObjectName]*entry),
	}
	if p.clock == nil {
		p.clock = clock.RealClock{}
	}
	if p.dial == nil {
		p.dial = (&net.Dialer{}).DialContext
	}
	if p.concurrency <= 0 {
		p.concurrency = defaultConcurrency
	}
	return p
}

// Ensure adds key, or updates its target. Calling it again with the same
// target does nothing, so it can be called on every reconcile.
//
// A new Address makes the old results meaningless: the key goes back to
// Unknown (without an OnTransition call, since the caller knows it just
// changed the target), its counters restart, a probe still in flight for
// the old target is ignored, and the new address is probed at once. A new
// Timeout, Period or threshold keeps the state; a new period counts from
// the last probe.
func (p *Prober) Ensure(key cache.ObjectName, t Target) {
	t = t.withDefaults()

	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock.Now()

	old, replaced := p.entries[key]
	if replaced {
		if old.target == t {
			return
		}
		if old.target.Address == t.Address && old.target.Timeout == t.Timeout {
			periodChanged := old.target.Period != t.Period
			old.target = t
			// An entry out of the heap is being probed; its next due time
			// is computed from the new period when that probe finishes.
			if periodChanged && old.index >= 0 {
				if old.last.IsZero() {
					old.next = now.Add(p.jitter(t.Period))
				} else {
					old.next = old.last.Add(t.Period)
				}
				heap.Fix(&p.queue, old.index)
				p.nudge()
			}
			return
		}
		p.removeLocked(old)
	}

	// A new key waits a random part of its period, so that keys created
	// together do not probe together; a key whose target just changed is
	// probed at once, since its endpoint is not ready until then.
	next := now
	if !replaced {
		next = now.Add(p.jitter(t.Period))
	}
	health := tracker{state: State{Reachability: Unknown, Since: now}}
	if replaced && old.target.Address == t.Address {
		// Only the timeout changed: the verdict on the address still
		// holds. (The entry is replaced because a worker reads its
		// timeout without the lock.)
		health = old.health
	}
	e := &entry{
		key:     key,
		timeout: t.Timeout,
		target:  t,
		health:  health,
		next:    next,
		index:   -1,
	}
	p.entries[key] = e
	heap.Push(&p.queue, e)
	p.nudge()
}

// Seed sets the state of a key that has no result yet, for example to the
// verdict a previous process recorded, so that a restart does not forget
// what was known. Results then apply the thresholds from that state
// instead of the first result deciding at once. It does nothing (and
// returns false) for an unknown key or one that has been probed.
func (p *Prober) Seed(key cache.ObjectName, s State) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.entries[key]
	if !ok || !e.last.IsZero() || e.health.state.Reachability != Unknown || s.Reachability == Unknown {
		return false
	}
	if s.Since.IsZero() {
		s.Since = p.clock.Now()
	}
	if s.Reachability != Unreachable {
		s.Message = ""
	}
	e.health.state = s
	return true
}

// Forget stops probing key at once. A dial in flight for it is cancelled
// and its result dropped, so no OnTransition call for key follows.
func (p *Prober) Forget(key cache.ObjectName) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e, ok := p.entries[key]; ok {
		p.removeLocked(e)
	}
}

// removeLocked takes e out of the map and the heap and aborts its dial.
// The scheduler is not nudged: at worst its timer fires once for nothing.
func (p *Prober) removeLocked(e *entry) {
	e.removed = true
	if e.index >= 0 {
		heap.Remove(&p.queue, e.index)
	}
	if e.cancel != nil {
		e.cancel()
		e.cancel = nil
	}
	delete(p.entries, e.key)
}

// State returns the current judgement on key, and false if key is not
// scheduled.
func (p *Prober) State(key cache.ObjectName) (State, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.entries[key]
	if !ok {
		return State{}, false
	}
	return e.health.state, true
}

// Len returns the number of scheduled keys.
func (p *Prober) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.entries)
}

// Run probes until ctx is done. When it returns, every goroutine it started
// has exited: dials in flight are cancelled through their context and
// waited for, and their results dropped, since a shutdown says nothing
// about the target. Keys stay scheduled, so Run may be called again.
func (p *Prober) Run(ctx context.Context) {
	logger := klog.FromContext(ctx)

	p.mu.Lock()
	if p.running {
		p.mu.Unlock()
		// Two schedulers would hand the same entries to two pools and
		// break the concurrency bound.
		logger.Error(nil, "Prober is already running, ignoring this Run")
		<-ctx.Done()
		return
	}
	p.running = true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.running = false
		p.mu.Unlock()
	}()

	logger.V(2).Info("Starting prober", "concurrency", p.concurrency, "targets", p.Len())
	var wg sync.WaitGroup
	for range p.concurrency {
		wg.Go(func() { p.worker(ctx) })
	}
	p.schedule(ctx)
	wg.Wait()
	logger.V(2).Info("Stopped prober")
}

// worker probes entries handed over by the scheduler until ctx is done.
func (p *Prober) worker(ctx context.Context) {
	logger := klog.FromContext(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-p.work:
			p.probe(ctx, logger, e)
		}
	}
}

// probe runs one probe of e and records its result.
func (p *Prober) probe(ctx context.Context, logger klog.Logger, e *entry) {
	// The key and timeout of an entry never change (a new timeout means a
	// new entry), so they can be read before taking the lock, keeping the
	// context setup out of it.
	key := e.key
	dialCtx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()

	p.mu.Lock()
	if e.removed {
		// Forgotten or replaced while waiting for this worker.
		p.mu.Unlock()
		return
	}
	address := e.target.Address
	e.cancel = cancel
	p.mu.Unlock()

	start := p.clock.Now()
	err := p.dialTCP(dialCtx, address)
	elapsed := p.clock.Since(start)
	msg := shortMessage(err)

	p.mu.Lock()
	e.cancel = nil
	if e.removed {
		p.mu.Unlock()
		return
	}
	now := p.clock.Now()
	shuttingDown := ctx.Err() != nil
	changed := false
	if !shuttingDown {
		changed = e.health.record(err == nil, msg, now, e.target.SuccessThreshold, e.target.FailureThreshold)
	}
	p.requeueLocked(e, now)
	state := e.health.state
	p.mu.Unlock()

	if shuttingDown {
		return
	}

	result := "success"
	if err != nil {
		result = "failure"
	}
	// Guarded by Enabled so that the common case, with verbose logging
	// off, builds no key/value lists: this runs for every probe.
	if l := logger.V(4); err != nil && l.Enabled() {
		// A refused or timed-out probe is the expected way to learn that
		// a target is down, not an error of this program.
		l.Info("Probe failed", "mydemo", klog.KRef(key.Namespace, key.Name), "address", address, "err", msg, "duration", elapsed)
	}
	if l := logger.V(5); err == nil && l.Enabled() {
		l.Info("Probe succeeded", "mydemo", klog.KRef(key.Namespace, key.Name), "address", address, "duration", elapsed)
	}
	if l := logger.V(3); changed && l.Enabled() {
		l.Info("Reachability changed", "mydemo", klog.KRef(key.Namespace, key.Name), "address", address,
			"reachability", state.Reachability, "message", state.Message)
	}

	if p.observe != nil {
		p.observe(result, elapsed)
	}
	if changed && p.onTransition != nil {
		p.onTransition(key)
	}
}

// jitter returns the delay before the first probe of a new key.
func (p *Prober) jitter(period time.Duration) time.Duration {
	if period <= 0 {
		return 0
	}
	var d time.Duration
	if p.jitterFunc != nil {
		d = p.jitterFunc(period)
	} else {
		d = rand.N(period)
	}
	return min(max(d, 0), period-1)
}
