// Package resolve turns the hostnames of Mydemo endpoints into addresses,
// off the reconcile path: the controller asks for the current answers in one
// call per sync, lookups run on a schedule of their own, and a key is
// enqueued only when one of its answers changes.
package resolve

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
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
	// tick is how often the scheduler looks for due lookups.
	tick = 250 * time.Millisecond
)

// Answer is what the resolver currently knows about one hostname.
type Answer struct {
	// Addrs are the addresses to publish, sorted. Empty after NXDOMAIN,
	// before the first answer, and once a failure outlived the last good
	// answer.
	Addrs []netip.Addr
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
	return a.Resolved == b.Resolved && a.Err == b.Err && a.KeptUntil.Equal(b.KeptUntil) && slices.Equal(a.Addrs, b.Addrs)
}

// Options configure a Resolver. Every field may be left at zero.
type Options struct {
	// Server, if set, is the "host:port" of the DNS server to ask instead
	// of the system's resolver configuration.
	Server string
	// Timeout bounds one lookup; default 5s.
	Timeout time.Duration
	// Concurrency bounds the lookups in flight; default 16.
	Concurrency int
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
	clock       clock.WithTicker

	mu sync.Mutex
	// entries holds each key's hostnames.
	entries map[cache.ObjectName]map[string]*entry
	wake    chan struct{}
}

type entry struct {
	key      cache.ObjectName
	hostname string
	period   time.Duration
	next     time.Time
	inFlight bool
	removed  bool
	answer   Answer
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
		clock:       opts.Clock,
		entries:     map[cache.ObjectName]map[string]*entry{},
		wake:        make(chan struct{}, 1),
	}
	if r.timeout <= 0 {
		r.timeout = defaultTimeout
	}
	if r.concurrency <= 0 {
		r.concurrency = defaultConcurrency
	}
	if r.clock == nil {
		r.clock = clock.RealClock{}
	}
	if r.lookup == nil {
		r.lookup = netLookup(opts.Server)
	}
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
// looked up at once; OnChange tells when its first answer arrives.
func (r *Resolver) Sync(key cache.ObjectName, hostnames []string, period time.Duration) map[string]Answer {
	if period <= 0 {
		period = defaultPeriod
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.clock.Now()
	old := r.entries[key]
	current := make(map[string]*entry, len(hostnames))
	answers := make(map[string]Answer, len(hostnames))
	added := false
	for _, h := range hostnames {
		e, ok := old[h]
		if !ok {
			e = &entry{key: key, hostname: h, next: now}
			added = true
		}
		if e.period != period {
			if !e.lastGood.IsZero() || e.answer.Err != "" {
				e.next = now.Add(period)
			}
			e.period = period
		}
		current[h] = e
		answers[h] = e.answer
	}
	for h, e := range old {
		if _, keep := current[h]; !keep {
			e.removed = true
		}
	}
	if len(current) == 0 {
		delete(r.entries, key)
	} else {
		r.entries[key] = current
	}
	if added {
		r.nudge()
	}
	return answers
}

// Forget stops resolving key's hostnames.
func (r *Resolver) Forget(key cache.ObjectName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.entries[key] {
		e.removed = true
	}
	delete(r.entries, key)
}

func (r *Resolver) nudge() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run looks up due hostnames until ctx is done, at most Concurrency at a
// time, and waits for the lookups in flight before it returns.
func (r *Resolver) Run(ctx context.Context) {
	logger := klog.FromContext(ctx)
	logger.V(2).Info("Starting resolver", "concurrency", r.concurrency)
	slots := make(chan struct{}, r.concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	ticker := r.clock.NewTicker(tick)
	defer ticker.Stop()
	for {
		for _, e := range r.due() {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				r.release(e)
				return
			}
			wg.Go(func() {
				defer func() { <-slots }()
				r.resolve(ctx, logger, e)
			})
		}
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-ticker.C():
		}
	}
}

// due marks every due entry in flight and returns them.
func (r *Resolver) due() []*entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.clock.Now()
	var out []*entry
	for _, hosts := range r.entries {
		for _, e := range hosts {
			if !e.inFlight && !e.next.After(now) {
				e.inFlight = true
				out = append(out, e)
			}
		}
	}
	return out
}

func (r *Resolver) release(e *entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e.inFlight = false
}

// resolve looks up one hostname and records the answer.
func (r *Resolver) resolve(ctx context.Context, logger klog.Logger, e *entry) {
	lookupCtx, cancel := context.WithTimeout(ctx, r.timeout)
	addrs, err := r.lookup(lookupCtx, e.hostname)
	cancel()
	if ctx.Err() != nil {
		// Stopping says nothing about the name.
		r.release(e)
		return
	}

	r.mu.Lock()
	now := r.clock.Now()
	e.inFlight = false
	e.next = now.Add(e.period)
	prev := e.answer
	e.answer = nextAnswer(prev, e.lastGood, keepFor(e.period), addrs, err, now)
	if err == nil || IsNotFound(err) {
		e.lastGood = now
	}
	changed := !e.removed && !prev.Equal(e.answer)
	answer := e.answer
	r.mu.Unlock()

	if err != nil {
		logger.V(4).Info("Lookup failed", "mydemo", klog.KRef(e.key.Namespace, e.key.Name), "hostname", e.hostname, "err", err)
	}
	if changed {
		logger.V(3).Info("Answer changed", "mydemo", klog.KRef(e.key.Namespace, e.key.Name), "hostname", e.hostname,
			"addresses", answer.Addrs, "err", answer.Err)
		if r.onChange != nil {
			r.onChange(e.key)
		}
	}
}

// keepFor is how long a failure keeps the last good answer.
func keepFor(period time.Duration) time.Duration {
	return max(minKeep, 3*period)
}

// nextAnswer is the answer after a lookup that returned addrs and err.
func nextAnswer(prev Answer, lastGood time.Time, keep time.Duration, addrs []netip.Addr, err error, now time.Time) Answer {
	switch {
	case err == nil:
		out := make([]netip.Addr, 0, len(addrs))
		for _, a := range addrs {
			out = append(out, a.Unmap())
		}
		slices.SortFunc(out, netip.Addr.Compare)
		return Answer{Addrs: slices.Compact(out), Resolved: true}
	case IsNotFound(err):
		return Answer{Resolved: true, Err: shortError(err)}
	case len(prev.Addrs) > 0 && !lastGood.IsZero() && now.Before(lastGood.Add(keep)):
		return Answer{Addrs: prev.Addrs, Resolved: true, Err: shortError(err), KeptUntil: lastGood.Add(keep).Truncate(time.Second)}
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
