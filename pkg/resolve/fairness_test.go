package resolve

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/tools/cache"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/crddemo/crddemo/test/dnsserver"
)

// run runs r until the test ends.
func run(t *testing.T, r *Resolver) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// await polls cond until it holds or within passes.
func await(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// names returns n absolute names below zone (absolute, so that no search
// domain of the machine is tried).
func names(prefix string, n int, zone string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d.%s.", prefix, i, zone)
	}
	return out
}

// The case: one namespace has 400 names in a zone that never
// answers, with a short period, and has taken every slot before another
// namespace creates its first name. The newcomer's answer must not wait
// for the hanging lookups: they end only by the timeout, so an answer that
// needed one of their slots could not arrive before Timeout. The bound is
// Timeout less a 1 s margin for a loaded machine (a lookup on loopback
// takes milliseconds); without fairness the newcomer waited behind all 400,
// 400/16 timeouts.
func TestHangingZoneDoesNotDelayAnotherNamespace(t *testing.T) {
	const timeout = 5 * time.Second
	const margin = time.Second
	dns := dnsserver.Start(t, "127.0.0.1")
	dns.Hang("hang.test")
	dns.Set("db.victim.test", netip.MustParseAddr("10.1.0.1"))

	r := New(Options{Server: dns.Addr, Timeout: timeout})
	var hanging []string
	for k := range 4 {
		hs := names("n", 100, fmt.Sprintf("k%d.hang.test", k))
		hanging = append(hanging, hs...)
		r.Sync(cache.ObjectName{Namespace: "hostile", Name: fmt.Sprintf("k%d", k)}, hs, 5*time.Second)
	}
	run(t, r)
	// Every slot is taken once that many different names have been asked.
	await(t, 10*time.Second, "the hostile names fill every slot", func() bool {
		asked := 0
		for _, h := range hanging {
			if dns.Asked(h) > 0 {
				asked++
			}
		}
		return asked >= defaultConcurrency
	})

	victim := cache.ObjectName{Namespace: "victim", Name: "db"}
	start := time.Now()
	r.Sync(victim, []string{"db.victim.test."}, 5*time.Second)
	await(t, timeout-margin, "the other namespace's first answer", func() bool {
		return r.Sync(victim, []string{"db.victim.test."}, 5*time.Second)["db.victim.test."].Resolved
	})
	t.Logf("first answer after %v with %d hanging names", time.Since(start), len(hanging))
}

// A name whose key is forgotten, or that Sync drops, is never looked up
// again, even when it was due and only waiting for a slot.
func TestForgottenNamesAreNeverLookedUp(t *testing.T) {
	dns := dnsserver.Start(t, "127.0.0.1")
	dns.Hang("hang.test")
	dns.Set("later.test", netip.MustParseAddr("10.1.0.1"))

	// One slot: the first name looked up holds it until the timeout, and
	// the other names wait for it. The timeout is long enough that the
	// first lookup still holds the slot when the names are dropped. The
	// schedule runs on a fake clock, so that the forgotten names are
	// strictly more overdue than the dropped ones, and those than the
	// later name: one of the forgotten names is the first looked up.
	const timeout = 3 * time.Second
	clk := testingclock.NewFakeClock(time.Unix(1000, 0))
	r := New(Options{Server: dns.Addr, Timeout: timeout, Concurrency: 1, Clock: clk})
	forgotten := cache.ObjectName{Namespace: "a", Name: "forgotten"}
	dropped := cache.ObjectName{Namespace: "a", Name: "dropped"}
	fNames := names("f", 10, "hang.test")
	dNames := names("d", 10, "hang.test")
	r.Sync(forgotten, fNames, time.Hour)
	clk.Step(time.Second)
	r.Sync(dropped, dNames, time.Hour)
	all := append(append([]string{}, fNames...), dNames...)
	askedNames := func() []string {
		var out []string
		for _, h := range all {
			if dns.Asked(h) > 0 {
				out = append(out, h)
			}
		}
		return out
	}
	run(t, r)
	await(t, 10*time.Second, "the first lookup", func() bool { return len(askedNames()) > 0 })

	// The dropped names go first: forgetting the key in flight frees the
	// slot, and a dropped name still queued would rightly take it.
	r.Sync(dropped, nil, time.Hour)
	r.Forget(forgotten)
	// A name created afterwards in the same namespace is less overdue
	// than everything that was queued before it, so a resolver that
	// still looks up the dropped names looks them up first. The wait
	// leaves time for every one of them to time out, so that such a
	// resolver gets there too, and the check below says so.
	clk.Step(time.Second)
	later := cache.ObjectName{Namespace: "a", Name: "later"}
	await(t, time.Duration(len(all)+2)*timeout, "a later name's answer", func() bool {
		return r.Sync(later, []string{"later.test."}, time.Hour)["later.test."].Resolved
	})
	if asked := askedNames(); len(asked) != 1 {
		t.Errorf("names asked after they were dropped: %d names asked, want only the one in flight: %s", len(asked), strings.Join(asked, " "))
	}
}

// Each namespace holds at most its share of the slots, the slots in all
// are bounded, a namespace that had every slot gives back those beyond its
// share when another arrives, and a namespace with none in flight gets
// the next free slot however overdue the others are.
func TestLookupsShareTheSlots(t *testing.T) {
	const concurrency = 4
	const timeout = 2 * time.Second
	var mu sync.Mutex
	inFlight := map[string]int{}
	total, maxTotal := 0, 0
	maxShare := map[string]int{}
	lookup := func(ctx context.Context, host string) ([]netip.Addr, error) {
		ns := host[strings.LastIndex(host, ".")+1:]
		mu.Lock()
		inFlight[ns]++
		total++
		maxTotal = max(maxTotal, total)
		maxShare[ns] = max(maxShare[ns], inFlight[ns])
		mu.Unlock()
		<-ctx.Done()
		mu.Lock()
		inFlight[ns]--
		total--
		mu.Unlock()
		return nil, ctx.Err()
	}
	state := func() (map[string]int, int) {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]int{}
		for ns, n := range inFlight {
			out[ns] = n
		}
		return out, maxTotal
	}
	r := New(Options{Lookup: lookup, Concurrency: concurrency, Timeout: timeout})
	add := func(ns string) {
		var hs []string
		for i := range 20 {
			hs = append(hs, fmt.Sprintf("h%d.%s", i, ns))
		}
		r.Sync(cache.ObjectName{Namespace: ns, Name: "x"}, hs, time.Hour)
	}
	add("a")
	run(t, r)
	await(t, 5*time.Second, "one namespace takes every slot", func() bool { s, _ := state(); return s["a"] == concurrency })

	add("b")
	// Well within the timeout: a taken back slot is free at once.
	await(t, timeout/2, "the first namespace gives back half", func() bool { s, _ := state(); return s["a"] == 2 && s["b"] == 2 })

	// Two namespaces at their share hold every slot; the third gets the
	// first one that frees, within one timeout.
	add("c")
	await(t, timeout+timeout/2, "the third namespace gets a slot", func() bool { s, _ := state(); return s["c"] > 0 })
	s, most := state()
	mu.Lock()
	defer mu.Unlock()
	if most > concurrency {
		t.Errorf("%d lookups in flight at once, want at most %d", most, concurrency)
	}
	// b and c arrived when the share was already 2 (of 2 and then 3
	// namespaces).
	share := (concurrency + 2) / 3
	for _, ns := range []string{"b", "c"} {
		if maxShare[ns] > share {
			t.Errorf("namespace %s held %d slots, its share is %d (now %v)", ns, maxShare[ns], share, s)
		}
	}
}

// The review's case: more namespaces than slots, every slot held by a
// lookup that ends only by the timeout, and every hostile namespace at its
// share of one. A free slot must still reach the namespace that has waited
// longest, not the one with the oldest backlog, or a tenant with as many
// namespaces as slots starves everyone else.
//
// Every slot frees at most Timeout after it was taken, and a namespace
// served while another waits goes behind it, so a due lookup waits for at
// most one slot per namespace: ceil(namespaces / slots) × Timeout, plus a
// 1 s margin for a loaded machine (a lookup on loopback takes
// milliseconds). The victim's address changes twice after its first
// answer: each change is seen at its next lookup, which falls due a period
// after the last, so those get the period on top. Before the fix the
// victim was never asked at all.
func TestScarceSlotsReachEveryNamespace(t *testing.T) {
	const (
		concurrency = 4
		hostile     = 2 * concurrency
		timeout     = time.Second
		period      = 200 * time.Millisecond
		margin      = time.Second
	)
	const namespaces = hostile + 1
	bound := time.Duration((namespaces+concurrency-1)/concurrency)*timeout + margin

	dns := dnsserver.Start(t, "127.0.0.1")
	dns.Hang("hang.test")
	r := New(Options{Server: dns.Addr, Timeout: timeout, Concurrency: concurrency})
	var hanging []string
	for k := range hostile {
		hs := names("n", 50, fmt.Sprintf("h%d.hang.test", k))
		hanging = append(hanging, hs...)
		r.Sync(cache.ObjectName{Namespace: fmt.Sprintf("hostile-%d", k), Name: "x"}, hs, period)
	}
	run(t, r)
	await(t, 10*time.Second, "the hostile names fill every slot", func() bool {
		asked := 0
		for _, h := range hanging {
			if dns.Asked(h) > 0 {
				asked++
			}
		}
		return asked >= concurrency
	})

	victim := cache.ObjectName{Namespace: "victim", Name: "db"}
	const name = "db.victim.test."
	for round := range 3 {
		want := netip.AddrFrom4([4]byte{10, 1, 0, byte(1 + round)})
		dns.Set(name, want)
		limit := bound
		if round > 0 {
			limit += period
		}
		start := time.Now()
		await(t, limit, fmt.Sprintf("the victim's answer %v (round %d)", want, round), func() bool {
			a := r.Sync(victim, []string{name}, period)[name]
			return len(a.Addrs) == 1 && a.Addrs[0] == want
		})
		t.Logf("round %d: answer after %v (limit %v)", round, time.Since(start).Round(time.Millisecond), limit)
	}
}
