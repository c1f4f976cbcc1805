// Package resolve turns the hostnames of Mydemo endpoints into addresses,
// off the reconcile path: the controller asks for the current answers in one
// call per sync, lookups run on a schedule of their own, and a key is
// enqueued only when one of its answers changes.
//
// What one tenant can cost the others is bounded twice: lookups share the
// slots fairly between namespaces (fairness.go), and a key keeps at most
// MaxAddrs addresses across all its hostnames (budget.go).
package resolve

import (
	"context"
	"errors"
	"math"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/crddemo/crddemo/pkg/fairshare"
)

// Defaults for zero Options fields.
const (
	defaultPeriod      = 30 * time.Second
	defaultTimeout     = 5 * time.Second
	defaultConcurrency = 16
	// A failed lookup keeps the last good answer for at least this long,
	// or three periods if that is longer: a DNS server that is down for a
	// moment must not unpublish a service, one that is gone for good
	// must not keep a stale address published forever.
	minKeep = 5 * time.Minute
)

// Answer is what the resolver currently knows about one hostname.
type Answer struct {
	// Addrs are the addresses to publish, sorted: the first ones of the
	// name's answer, as many as the key's MaxAddrs leaves room for. Empty
	// after NXDOMAIN, before the first answer, and once a failure outlived
	// the last good answer.
	Addrs []netip.Addr
	// Omitted is how many addresses of the answer are not in Addrs
	// because MaxAddrs was used up, by this name or by names listed
	// before it. Those addresses are not kept, so len(Addrs)+Omitted is
	// all that is known of them: how many there were.
	Omitted int
	// Resolved is true once a lookup answered (NXDOMAIN included), and
	// stays true while a failed lookup keeps the last good answer.
	Resolved bool
	// Err is the short error of the last failed lookup ("" after a
	// success). It is stable for one failure, so it can go into status.
	Err string
	// KeptUntil is set while a failure keeps the last good answer: when
	// that answer will be dropped.
	KeptUntil time.Time
}

// Equal reports whether two answers say the same.
func (a Answer) Equal(b Answer) bool {
	return a.Resolved == b.Resolved && a.Err == b.Err && a.Omitted == b.Omitted &&
		a.KeptUntil.Equal(b.KeptUntil) && slices.Equal(a.Addrs, b.Addrs)
}

// Options configure a Resolver. Every field may be left at zero.
type Options struct {
	// Server, if set, is the "host:port" of the DNS server to ask instead
	// of the system's resolver configuration.
	Server string
	// Timeout bounds one lookup; default 5s.
	Timeout time.Duration
	// Concurrency bounds the lookups in flight; default 16. Each namespace
	// may hold its fair share of them (see fairness.go).
	Concurrency int
	// MaxAddrs bounds the addresses kept for one key, across all its
	// hostnames: no more than can be published. Names listed first in
	// Sync get the room first. Zero means no bound.
	MaxAddrs int
	// OnChange is called with a key whenever one of its answers changes.
	// It must only enqueue the key.
	OnChange func(key cache.ObjectName)
	// Lookup replaces the DNS lookup (tests). It returns the addresses of
	// host, and an error for which IsNotFound tells NXDOMAIN.
	Lookup func(ctx context.Context, host string) ([]netip.Addr, error)
	// Clock drives the schedule; nil means the real clock.
	Clock clock.WithTicker
}

// Resolver resolves the hostnames of many keys on their own periods.
type Resolver struct {
	lookup      func(ctx context.Context, host string) ([]netip.Addr, error)
	onChange    func(key cache.ObjectName)
	timeout     time.Duration
	concurrency int
	maxAddrs    int
	clock       clock.WithTicker

	mu sync.Mutex
	// keys holds each key's hostnames.
	keys map[cache.ObjectName]*hostSet
	// sched holds every name not removed, queued by namespace or being
	// looked up, and hands out the slots (see fairness.go).
	sched *fairshare.Scheduler[*entry]
	// waiter sleeps Run until the next name falls due or a nudge.
	waiter *fairshare.Waiter
}

// hostSet is the hostnames of one key.
type hostSet struct {
	// order is the hostnames in the order of the last Sync, which decides
	// who gets the room of MaxAddrs first.
	order  []*entry
	byName map[string]*entry
}

// entry is one hostname of one key. Every field but key and hostname is
// guarded by Resolver.mu.
type entry struct {
	key      cache.ObjectName
	hostname string
	period   time.Duration
	// Item holds the entry's place in the schedule: its due time, its
	// namespace, whether it was removed (when the key is forgotten or
	// Sync dropped the name: a lookup in flight is then cancelled and its
	// result dropped), and whether the lookup in flight was taken back
	// for another namespace (its result is dropped and it is due again at
	// once).
	fairshare.Item[*entry]
	// cancel ends the lookup in flight; nil when there is none.
	cancel context.CancelFunc
	answer Answer
	// room is how many addresses this name may keep: MaxAddrs less what
	// the names before it keep.
	room int
	// lastGood is when the last successful answer arrived.
	lastGood time.Time
}

// New returns a Resolver that looks nothing up until Run is called.
func New(opts Options) *Resolver {
	r := &Resolver{
		lookup:      opts.Lookup,
		onChange:    opts.OnChange,
		timeout:     opts.Timeout,
		concurrency: opts.Concurrency,
		maxAddrs:    opts.MaxAddrs,
		clock:       opts.Clock,
		keys:        map[cache.ObjectName]*hostSet{},
	}
	if r.timeout <= 0 {
		r.timeout = defaultTimeout
	}
	if r.concurrency <= 0 {
		r.concurrency = defaultConcurrency
	}
	if r.maxAddrs <= 0 {
		r.maxAddrs = math.MaxInt
	}
	if r.clock == nil {
		r.clock = clock.RealClock{}
	}
	if r.lookup == nil {
		r.lookup = netLookup(opts.Server)
	}
	r.waiter = fairshare.NewWaiter(r.clock)
	r.sched = fairshare.New(fairshare.Options[*entry]{
		Slots:    r.concurrency,
		Clock:    r.clock,
		TakeBack: cancelLookup,
		Wake:     r.waiter.Nudge,
	})
	return r
}

// netLookup resolves with Go's own resolver, against server when given.
func netLookup(server string) func(ctx context.Context, host string) ([]netip.Addr, error) {
	res := &net.Resolver{PreferGo: true}
	if server != "" {
		var d net.Dialer
		res.Dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, server)
		}
	}
	return func(ctx context.Context, host string) ([]netip.Addr, error) {
		return res.LookupNetIP(ctx, "ip", host)
	}
}

// IsNotFound reports whether err says the name does not exist (NXDOMAIN).
func IsNotFound(err error) bool {
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr) && dnsErr.IsNotFound
}

// Sync makes hostnames the complete set of names of key, each resolved
// every period, and returns the current answer for each. A new name is
// looked up at once; OnChange tells when its first answer arrives. The
// order of hostnames decides which names keep their addresses when the
// key's answers exceed MaxAddrs.
func (r *Resolver) Sync(key cache.ObjectName, hostnames []string, period time.Duration) map[string]Answer {
	if period <= 0 {
		period = defaultPeriod
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.keys[key]
	if old == nil {
		if len(hostnames) == 0 {
			// Most Mydemos have no hostname: their syncs cost nothing here.
			return nil
		}
		old = &hostSet{}
	}
	now := r.clock.Now()
	set := &hostSet{order: make([]*entry, 0, len(hostnames)), byName: make(map[string]*entry, len(hostnames))}
	added := false
	for _, h := range hostnames {
		if _, dup := set.byName[h]; dup {
			continue
		}
		e, ok := old.byName[h]
		if !ok {
			e = &entry{key: key, hostname: h, period: period}
			r.sched.Add(e, key.Namespace, now)
			added = true
		}
		if e.period != period {
			e.period = period
			if !e.lastGood.IsZero() || e.answer.Err != "" {
				r.sched.Reschedule(e, now.Add(period))
			}
		}
		set.order = append(set.order, e)
		set.byName[h] = e
	}
	for h, e := range old.byName {
		if _, keep := set.byName[h]; !keep {
			r.removeLocked(e)
		}
	}
	if len(set.order) == 0 {
		delete(r.keys, key)
	} else {
		r.keys[key] = set
	}
	// A name gone or moved changes the room of the names after it.
	r.allotLocked(set, now)
	answers := make(map[string]Answer, len(set.order))
	for _, e := range set.order {
		answers[e.hostname] = e.answer
	}
	if added {
		r.waiter.Nudge()
	}
	return answers
}

// Forget stops resolving key's hostnames. None of them is looked up again,
// and a lookup in flight is cancelled.
func (r *Resolver) Forget(key cache.ObjectName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if set, ok := r.keys[key]; ok {
		for _, e := range set.order {
			r.removeLocked(e)
		}
		delete(r.keys, key)
	}
}

// removeLocked takes e out of the schedule for good.
func (r *Resolver) removeLocked(e *entry) {
	if e.Removed() {
		return
	}
	r.sched.Remove(e)
	if e.cancel != nil {
		// Its slot comes back when the lookup returns, which is at once.
		e.cancel()
	}
}

// Run looks up due hostnames until ctx is done, at most Concurrency at a
// time, and waits for the lookups in flight before it returns.
func (r *Resolver) Run(ctx context.Context) {
	logger := klog.FromContext(ctx)
	logger.V(2).Info("Starting resolver", "concurrency", r.concurrency, "timeout", r.timeout)
	var wg sync.WaitGroup
	defer wg.Wait()
	for ctx.Err() == nil {
		e, lookupCtx, due, pending := r.start(ctx)
		if e != nil {
			wg.Go(func() { r.resolve(ctx, lookupCtx, logger, e) })
			continue
		}
		r.waiter.Wait(ctx, due, pending)
	}
}

// start takes the next lookup that may run now, with the context it runs
// under. Otherwise it returns when the next one falls due, if one is
// queued below its namespace's share.
func (r *Resolver) start(ctx context.Context) (e *entry, lookupCtx context.Context, due time.Time, pending bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, due, pending = r.sched.Pop(r.clock.Now())
	if e == nil {
		return nil, nil, due, pending
	}
	lookupCtx, e.cancel = context.WithTimeout(ctx, r.timeout)
	return e, lookupCtx, time.Time{}, true
}

// resolve looks up one hostname and records the answer.
func (r *Resolver) resolve(ctx, lookupCtx context.Context, logger klog.Logger, e *entry) {
	addrs, err := r.lookup(lookupCtx, e.hostname)

	r.mu.Lock()
	e.cancel()
	e.cancel = nil
	r.sched.Done(e)
	now := r.clock.Now()
	switch {
	case e.Removed():
		r.mu.Unlock()
		return
	case e.Preempted() || ctx.Err() != nil:
		// Neither says anything about the name: it is due again at
		// once (a stopped resolver looks it up first when run again).
		r.sched.Queue(e, e.Due())
		r.mu.Unlock()
		return
	}
	r.sched.Queue(e, now.Add(e.period))
	prev := e.answer
	e.answer = nextAnswer(prev, e.lastGood, keepFor(e.period), addrs, err, now, e.room)
	if err == nil || IsNotFound(err) {
		e.lastGood = now
	}
	changed := !prev.Equal(e.answer)
	if len(prev.Addrs) != len(e.answer.Addrs) {
		// The names after this one have more or less room now.
		if set := r.keys[e.key]; set != nil && r.allotLocked(set, now) {
			changed = true
		}
	}
	answer := e.answer
	r.mu.Unlock()

	if err != nil {
		logger.V(4).Info("Lookup failed", "mydemo", klog.KRef(e.key.Namespace, e.key.Name), "hostname", e.hostname, "err", err)
	}
	if changed {
		logger.V(3).Info("Answer changed", "mydemo", klog.KRef(e.key.Namespace, e.key.Name), "hostname", e.hostname,
			"addresses", answer.Addrs, "omitted", answer.Omitted, "err", answer.Err)
		if r.onChange != nil {
			r.onChange(e.key)
		}
	}
}

// keepFor is how long a failure keeps the last good answer.
func keepFor(period time.Duration) time.Duration {
	return max(minKeep, 3*period)
}

// nextAnswer is the answer after a lookup that returned addrs and err, of
// which at most room addresses are kept.
func nextAnswer(prev Answer, lastGood time.Time, keep time.Duration, addrs []netip.Addr, err error, now time.Time, room int) Answer {
	switch {
	case err == nil:
		all := make([]netip.Addr, 0, len(addrs))
		for _, a := range addrs {
			all = append(all, a.Unmap())
		}
		slices.SortFunc(all, netip.Addr.Compare)
		all = slices.Compact(all)
		kept := firstAddrs(all, room)
		return Answer{Addrs: kept, Omitted: len(all) - len(kept), Resolved: true}
	case IsNotFound(err):
		return Answer{Resolved: true, Err: shortError(err)}
	case len(prev.Addrs) > 0 && !lastGood.IsZero() && now.Before(lastGood.Add(keep)):
		return Answer{Addrs: prev.Addrs, Omitted: prev.Omitted, Resolved: true, Err: shortError(err), KeptUntil: lastGood.Add(keep).Truncate(time.Second)}
	default:
		return Answer{Err: shortError(err)}
	}
}

// shortError is the part of a lookup error that says what went wrong,
// without the server's address or the name, which status shows anyway.
func shortError(err error) string {
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return "no such host (NXDOMAIN)"
	case errors.As(err, &dnsErr) && dnsErr.IsTimeout:
		return "lookup timed out"
	case errors.As(err, &dnsErr):
		return dnsErr.Err
	case errors.Is(err, context.DeadlineExceeded):
		return "lookup timed out"
	default:
		return err.Error()
	}
}
