package probe

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/fairshare"
	"github.com/crddemo/crddemo/pkg/probe/check"
)

// DefaultConcurrency is the most probes in flight at once when
// Options.Concurrency is not set; the controller's --probe-concurrency
// defaults to it.
const DefaultConcurrency = 200

// Defaults for target fields left at zero: the Mydemo API's, from their
// one home. The API server writes them into every probe and the controller
// into a Mydemo without one, so these only keep a careless caller from
// busy-looping.
const (
	defaultPeriod           = time.Duration(crddemov1.DefaultProbePeriodSeconds) * time.Second
	defaultTimeout          = time.Duration(crddemov1.DefaultProbeTimeoutSeconds) * time.Second
	defaultSuccessThreshold = int(crddemov1.DefaultProbeSuccessThreshold)
	defaultFailureThreshold = int(crddemov1.DefaultProbeFailureThreshold)
)

// maxPeriodJitter is the most, as a fraction of the period, by which one
// probe is moved away from exactly one period after the previous: every
// interval lies within period ± period/20 (up to 10 % of the period from
// shortest to longest). Targets created together, or seeded together at a
// restart, therefore drift apart instead of probing in the same instant
// forever, while the mean period stays the one asked for.
const maxPeriodJitter = 20 // period / maxPeriodJitter either way

// saturationLateness is how late a probe may start before the engine
// counts itself saturated: the scheduler itself is late by microseconds,
// so a second means the probes wait for slots.
const saturationLateness = time.Second

// Why a probe started late (the cause ObserveSaturated is given). Only
// the first is the engine's: the second is one namespace that used its
// own share, which more slots would not cure while the share holds.
const (
	// SaturationEngine: every slot was in use at some time while the
	// probe waited.
	SaturationEngine = "engine"
	// SaturationNamespaceShare: slots were free all the while, but the
	// probe's namespace held its share of them.
	SaturationNamespaceShare = "namespace_share"
)

// saturationLogEvery bounds the "saturated" log line to one per interval.
const saturationLogEvery = time.Minute

// Target is what to probe and how.
type Target struct {
	// Address is "ip:port", as produced by net.JoinHostPort.
	Address string
	// Role names the check when one key probes the same address in
	// several ways: the Mydemo's own probe ("") and each role's. A target
	// is identified by its Role and Address together.
	Role string
	// Spec is the kind of probe and its settings; the zero value is a TCP
	// connect. Targets with equal specs share one Checker.
	Spec check.Spec
	// Period is the time between the due times of two probes.
	Period time.Duration
	// EdgeInterval is the time between probes while results contradict
	// the verdict and the threshold is not met yet (see tracker.onEdge),
	// so that a change of state is confirmed in seconds without letting
	// one lost probe flip it. Zero, or anything not shorter than Period,
	// means Period: no probe is moved.
	EdgeInterval time.Duration
	// Timeout bounds one connection attempt.
	Timeout time.Duration
	// SuccessThreshold is how many consecutive successes turn Unreachable
	// into Reachable.
	SuccessThreshold int
	// FailureThreshold is how many consecutive failures turn Reachable
	// into Unreachable.
	FailureThreshold int
	// Seed, if its Reachability is known, is the verdict a previous
	// process recorded for this target. Sync uses it only for a target it
	// has no state for, so that a restart neither marks every endpoint
	// not ready nor waits for first probes; results then apply the
	// thresholds from that verdict. It is not part of the target's
	// identity.
	Seed State
}

// targetID identifies a target within its key.
type targetID struct {
	role, address string
}

// schedule is the part of a Target that compares with ==.
type schedule struct {
	Address                            string
	Period, EdgeInterval, Timeout      time.Duration
	SuccessThreshold, FailureThreshold int
}

// withDefaults fills zero or negative fields and clears Seed, so that
// comparing two targets compares what will actually be done.
func (t Target) withDefaults() Target {
	t.Seed = State{}
	if t.Spec.Kind == "" {
		t.Spec.Kind = check.KindTCP
	}
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

func (t Target) schedule() schedule {
	return schedule{t.Address, t.Period, t.EdgeInterval, t.Timeout, t.SuccessThreshold, t.FailureThreshold}
}

// Options configure a Prober. Every field may be left at its zero value.
type Options struct {
	// Concurrency is the most probes in flight at once; <= 0 means
	// DefaultConcurrency.
	Concurrency int
	// OnTransition is called whenever the State of a key changes: its
	// Reachability, including the first change away from Unknown, the
	// message of an unreachable target (see tracker.record), or the
	// notAfter of the certificate it presents (tracker.recordCert), so a
	// renewed certificate is reported once. It runs on a worker
	// goroutine without any lock held, so it may call State, but it holds
	// up that worker: it should only enqueue the key somewhere.
	OnTransition func(key cache.ObjectName)
	// Clock drives scheduling and the Since timestamps; nil means the real
	// clock. Dial timeouts always use real time, since they are context
	// deadlines.
	Clock clock.WithTicker
	// Dial opens every probe connection, of every kind; nil means the
	// probe dialer, which closes connections with a reset (SO_LINGER 0).
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// NewChecker, if set, builds the Checker of a spec instead of
	// check.New (tests). An error fails every probe of that spec with
	// the error as the message, as an invalid spec does.
	NewChecker func(check.Spec) (check.Checker, error)
	// ObserveLateness, if set, is told how late each probe started
	// against its schedule. It runs on a worker goroutine without any
	// lock held.
	ObserveLateness func(d time.Duration)
	// ObserveSaturated, if set, is called for every probe that started
	// more than a second late, with why: SaturationEngine when every
	// slot was in use at some time while it waited,
	// SaturationNamespaceShare when slots were free all along but its
	// namespace had used its share (see fairness.go).
	ObserveSaturated func(cause string)
	// Observe, if set, is told the outcome ("success" or "failure") and
	// duration of every probe whose result counted. It runs on a worker
	// goroutine without any lock held.
	Observe func(result string, d time.Duration)
	// Jitter, if set, returns the delay before the first probe of a
	// seeded target, given its period; results outside [0, period) are
	// clamped. It is called with the prober's lock held, so it must be
	// quick. nil means uniformly random, which spreads the targets of a
	// restarted process over a whole period.
	Jitter func(period time.Duration) time.Duration
	// DisableFlapDamping turns flap damping off (see state.go): an
	// endpoint whose target passes again is ready again at once however
	// often it went down.
	DisableFlapDamping bool
	// PeriodJitter, if set, returns the offset added to every period
	// after the first probe; results are clamped to ± period/20. It is
	// called with the prober's lock held. nil means uniformly random
	// within that range.
	PeriodJitter func(period time.Duration) time.Duration
}

// Prober probes many targets from a bounded pool of goroutines. Its
// methods may be called from any goroutine.
type Prober struct {
	clock            clock.WithTicker
	dial             check.DialFunc
	newChecker       func(check.Spec) (check.Checker, error)
	onTransition     func(key cache.ObjectName)
	observe          func(result string, d time.Duration)
	observeLateness  func(d time.Duration)
	observeSaturated func(cause string)
	jitterFunc       func(period time.Duration) time.Duration
	periodJitterFunc func(period time.Duration) time.Duration
	concurrency      int
	undamped         bool

	// work hands due entries from the scheduler to the workers. It is
	// unbuffered so an entry only leaves the heap when a worker is free.
	work chan *entry
	// waiter sleeps the scheduler goroutine until the next entry falls
	// due or a nudge.
	waiter *fairshare.Waiter

	// mu guards everything below and the mutable fields of every entry.
	// It is only held for map and heap operations, never across a dial or
	// a callback, so a slow target cannot block Ensure, Forget or State.
	mu sync.Mutex
	// entries holds the targets of each key by role and address.
	entries map[cache.ObjectName]map[targetID]*entry
	count   int
	// sched holds every entry not removed, queued by namespace or in
	// flight, and hands out the slots (see fairness.go).
	sched *fairshare.Scheduler[*entry]
	// checkers are shared by the targets with the same spec, by specKey.
	checkers map[string]*checkerRef
	running  bool
	// lastSaturationLog rate-limits the saturation log line.
	lastSaturationLog time.Time
	// lastFull is the last time every slot was in use (see doneLocked):
	// a probe that waited past it waited, at least in part, for the
	// engine rather than for its namespace's share.
	lastFull time.Time
}

// New returns a Prober that probes nothing until Run is called.
func New(opts Options) *Prober {
	p := &Prober{
		clock:            opts.Clock,
		dial:             opts.Dial,
		newChecker:       opts.NewChecker,
		onTransition:     opts.OnTransition,
		observe:          opts.Observe,
		observeLateness:  opts.ObserveLateness,
		observeSaturated: opts.ObserveSaturated,
		jitterFunc:       opts.Jitter,
		periodJitterFunc: opts.PeriodJitter,
		concurrency:      opts.Concurrency,
		undamped:         opts.DisableFlapDamping,
		work:             make(chan *entry),
		entries:          make(map[cache.ObjectName]map[targetID]*entry),
		checkers:         make(map[string]*checkerRef),
	}
	if p.clock == nil {
		p.clock = clock.RealClock{}
	}
	if p.concurrency <= 0 {
		p.concurrency = DefaultConcurrency
	}
	p.waiter = fairshare.NewWaiter(p.clock)
	p.sched = fairshare.New(fairshare.Options[*entry]{
		Slots:    p.concurrency,
		Clock:    p.clock,
		TakeBack: cancelProbe,
		Wake:     p.waiter.Nudge,
	})
	return p
}

// Sync makes targets the complete set of targets of key, and returns the
// state of each, in the order of targets. It is meant to be called on every
// reconcile: targets it already has keep their schedule and verdict, new
// ones are probed at once (as soon as a worker is free), and those no longer
// listed stop being probed (a dial in flight for them is cancelled). An
// empty targets forgets key. Targets are identified by Role and Address;
// two targets with the same Role and Address are one.
//
// A target whose Timeout, Period or thresholds changed keeps its verdict; a
// new period counts from the last probe. A new target starts Unknown, or
// from its Seed.
func (p *Prober) Sync(key cache.ObjectName, targets []Target) []State {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock.Now()

	old := p.entries[key]
	current := make(map[targetID]*entry, len(targets))
	states := make([]State, len(targets))
	// The targets of one key almost always share one Spec (the same
	// pointers, built once by the caller): its key is computed once, not
	// once per target, since a spec may carry a large CA bundle.
	var lastSpec check.Spec
	lastKey := ""
	for i, t := range targets {
		id := targetID{role: t.Role, address: t.Address}
		e, ok := current[id]
		if !ok {
			if lastKey == "" || t.Spec != lastSpec {
				lastSpec, lastKey = t.Spec, specKey(t.Spec)
			}
			e = p.ensureLocked(key, old[id], t, lastKey, now)
			current[id] = e
		}
		states[i] = e.health.state
	}
	for id, e := range old {
		if _, keep := current[id]; !keep {
			p.removeLocked(e)
		}
	}
	if len(current) == 0 {
		delete(p.entries, key)
	} else {
		p.entries[key] = current
	}
	p.count += len(current) - len(old)
	return states
}

// ensureLocked returns the entry for t, whose spec has the key checkKey,
// reusing old when the target allows it and replacing it otherwise.
func (p *Prober) ensureLocked(key cache.ObjectName, old *entry, t Target, checkKey string, now time.Time) *entry {
	seed := t.Seed
	t = t.withDefaults()
	sched := t.schedule()
	if old != nil && old.check.key != checkKey {
		// Another kind of check, or other settings: what the old one
		// found says nothing about the new one, so it starts Unknown and
		// is probed at once, as a new address is.
		p.removeLocked(old)
		old = nil
	}
	if old != nil {
		if old.sched == sched {
			return old
		}
		if old.sched.Timeout == sched.Timeout {
			periodChanged := old.sched.Period != sched.Period
			old.sched = sched
			// An entry out of the heap is being probed; its next due time
			// is computed from the new period when that probe finishes.
			if periodChanged && old.Queued() {
				next := now
				if !old.last.IsZero() {
					next = old.last.Add(sched.Period)
				}
				p.sched.Reschedule(old, next)
				p.waiter.Nudge()
			}
			return old
		}
		// Only the timeout changed: the verdict still holds, but the
		// entry is replaced because a worker reads its timeout without
		// the lock.
		p.removeLocked(old)
	}

	health := tracker{state: State{Reachability: Unknown, Since: now}, undamped: p.undamped}
	// A new target is probed at once: its endpoint is not ready until
	// then. One seeded from a recorded verdict already has one, so it
	// waits a random part of its period instead, which keeps a restart
	// from probing every target in the same instant.
	next := now
	switch {
	case old != nil:
		health = old.health
		if old.Due().After(now) {
			next = old.Due()
		}
	case seed.Reachability != Unknown:
		if seed.Since.IsZero() {
			seed.Since = now
		}
		if seed.Reachability != Unreachable {
			seed.Message = ""
		}
		health.state = seed
		next = now.Add(p.jitter(t.Period))
	}
	e := &entry{
		key:     key,
		timeout: t.Timeout,
		sched:   sched,
		check:   p.acquireLocked(checkKey, t.Spec),
		health:  health,
	}
	e.addr, e.addrErr = netip.ParseAddrPort(t.Address)
	if e.addrErr != nil {
		e.addrErr = &check.Error{Message: fmt.Sprintf("invalid address %q", t.Address), Err: e.addrErr}
	}
	p.sched.Add(e, key.Namespace, next)
	p.waiter.Nudge()
	return e
}

// Forget stops probing every target of key at once. Dials in flight for
// them are cancelled and their results dropped, so no OnTransition call
// for key follows.
func (p *Prober) Forget(key cache.ObjectName) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.entries[key] {
		p.removeLocked(e)
	}
	p.count -= len(p.entries[key])
	delete(p.entries, key)
}

// removeLocked takes e out of the heap and aborts its dial; the caller
// updates the map. The scheduler is not nudged: at worst its timer fires
// once for nothing.
func (p *Prober) removeLocked(e *entry) {
	if e.Removed() {
		return
	}
	p.sched.Remove(e)
	if e.cancel != nil {
		e.cancel()
		e.cancel = nil
	}
	p.releaseLocked(e.check)
}

// Len returns the number of scheduled targets.
func (p *Prober) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count
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
	checkCtx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()

	p.mu.Lock()
	if e.Removed() {
		// Forgotten or replaced while waiting for this worker.
		p.doneLocked(e)
		p.mu.Unlock()
		return
	}
	if e.Preempted() {
		p.retryPreemptedLocked(e)
		p.mu.Unlock()
		return
	}
	address := e.sched.Address
	checker := e.check.checker
	due := e.last
	cause := SaturationNamespaceShare
	if e.waitedForEngine {
		cause = SaturationEngine
	}
	e.cancel = cancel
	p.mu.Unlock()

	start := p.clock.Now()
	late := max(start.Sub(due), 0)
	// Read by requeueLocked under the lock taken below.
	e.started = start
	if p.observeLateness != nil {
		p.observeLateness(late)
	}
	if late > saturationLateness {
		p.saturated(logger, late, cause)
	}
	// The recorder is the probe's own, so many probes sharing one Checker
	// never see each other's certificates.
	certs := &check.CertRecorder{}
	err := e.addrErr
	if err == nil {
		err = checker.Check(check.WithCertRecorder(checkCtx, certs), e.addr)
	}
	notAfter := certs.NotAfter()
	elapsed := p.clock.Since(start)
	msg := ""
	if err != nil {
		msg = check.Describe(err)
	}

	p.mu.Lock()
	e.cancel = nil
	if e.Preempted() && !e.Removed() {
		p.retryPreemptedLocked(e)
		p.mu.Unlock()
		return
	}
	p.doneLocked(e)
	if e.Removed() {
		p.mu.Unlock()
		return
	}
	now := p.clock.Now()
	shuttingDown := ctx.Err() != nil
	changed := false
	if !shuttingDown {
		changed = e.health.record(err == nil, msg, now, e.sched.SuccessThreshold, e.sched.FailureThreshold)
		changed = e.health.recordCert(notAfter) || changed
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
		// A failed probe is the expected way to learn that a target is
		// down, not an error of this program.
		l.Info("Probe failed", "mydemo", klog.KRef(key.Namespace, key.Name), "address", address, "err", msg, "cause", err, "duration", elapsed)
	}
	if l := logger.V(5); err == nil && l.Enabled() {
		l.Info("Probe succeeded", "mydemo", klog.KRef(key.Namespace, key.Name), "address", address, "duration", elapsed)
	}
	if l := logger.V(3); changed && l.Enabled() {
		l.Info("Reachability changed", "mydemo", klog.KRef(key.Namespace, key.Name), "address", address,
			"reachability", state.Reachability, "message", state.Message, "certNotAfter", state.CertNotAfter)
	}

	if p.observe != nil {
		p.observe(result, elapsed)
	}
	if changed && p.onTransition != nil {
		p.onTransition(key)
	}
}

// retryPreemptedLocked gives back the slot of a probe taken back for
// another namespace, and queues it again, due now: it has not been probed.
func (p *Prober) retryPreemptedLocked(e *entry) {
	p.doneLocked(e)
	p.sched.Queue(e, p.clock.Now())
	p.waiter.Nudge()
}

// saturated records a probe that started late for want of a slot, and
// says so in the log at most once per saturationLogEvery: a saturated
// engine stretches every period, which users see as slow detection.
func (p *Prober) saturated(logger klog.Logger, late time.Duration, cause string) {
	if p.observeSaturated != nil {
		p.observeSaturated(cause)
	}
	now := p.clock.Now()
	p.mu.Lock()
	if !p.lastSaturationLog.IsZero() && now.Sub(p.lastSaturationLog) < saturationLogEvery {
		p.mu.Unlock()
		return
	}
	p.lastSaturationLog = now
	inFlight, targets, namespaces := p.sched.InFlight(), p.count, p.sched.Namespaces()
	p.mu.Unlock()
	logger.Info("Probe engine saturated: probes start late; raise --probe-concurrency or lower probe timeouts",
		"late", late, "cause", cause, "concurrency", p.concurrency, "inFlight", inFlight, "targets", targets, "namespaces", namespaces)
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

// periodJitter returns the offset of the next due time from exactly one
// period after the last, within ± period/maxPeriodJitter.
func (p *Prober) periodJitter(period time.Duration) time.Duration {
	bound := period / maxPeriodJitter
	if bound <= 0 {
		return 0
	}
	var d time.Duration
	if p.periodJitterFunc != nil {
		d = p.periodJitterFunc(period)
	} else {
		d = rand.N(2*bound+1) - bound
	}
	return min(max(d, -bound), bound)
}
