package resolve

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/tools/cache"
	testingclock "k8s.io/utils/clock/testing"
)

// liveHeap is the heap in use after a forced collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// One key of 1,000 names that answer 4,000 addresses each keeps what can
// be published, not what was answered. Kept whole, the answers are
// 1,000 × 4,000 × 24 B (a netip.Addr) = 96 MB; capped, the key keeps 1,000
// addresses (24 kB) and its entries. The bound, 2 MiB, is that with room
// to spare for the entries (a few hundred bytes each) and the collector's
// noise, and 48 times below the uncapped heap.
func TestKeyKeepsAtMostMaxAddrs(t *testing.T) {
	const (
		hostnames = 1000
		answer    = 4000
		maxAddrs  = 1000
		bound     = 2 << 20
	)
	lookup := func(context.Context, string) ([]netip.Addr, error) {
		out := make([]netip.Addr, answer)
		for i := range out {
			out[i] = netip.AddrFrom4([4]byte{10, 3, byte(i >> 8), byte(i)})
		}
		return out, nil
	}
	var hs []string
	for i := range hostnames {
		hs = append(hs, fmt.Sprintf("h%d.wide.test", i))
	}
	key := cache.ObjectName{Namespace: "ns", Name: "wide"}

	before := liveHeap()
	r := New(Options{Lookup: lookup, MaxAddrs: maxAddrs})
	r.Sync(key, hs, time.Hour)
	run(t, r)
	var answers map[string]Answer
	await(t, 30*time.Second, "every name answered", func() bool {
		answers = r.Sync(key, hs, time.Hour)
		for _, a := range answers {
			if !a.Resolved {
				return false
			}
		}
		return true
	})
	answers = nil
	after := liveHeap()
	runtime.KeepAlive(r)

	grown := int64(after) - int64(before)
	t.Logf("live heap grew by %d bytes for %d names × %d answers (%d bytes per name)", grown, hostnames, answer, grown/hostnames)
	if grown > bound {
		t.Errorf("live heap grew by %d bytes, want at most %d", grown, bound)
	}

	// What is kept is what the controller would publish: the first name
	// in order fills the room, and every name says how many it left out.
	answers = r.Sync(key, hs, time.Hour)
	kept := 0
	for i, h := range hs {
		a := answers[h]
		kept += len(a.Addrs)
		if len(a.Addrs)+a.Omitted != answer {
			t.Fatalf("%s: %d kept + %d omitted, want %d in all", h, len(a.Addrs), a.Omitted, answer)
		}
		if i == 0 && len(a.Addrs) != maxAddrs {
			t.Errorf("the first name keeps %d addresses, want %d", len(a.Addrs), maxAddrs)
		}
	}
	if kept != maxAddrs {
		t.Errorf("the key keeps %d addresses, want %d", kept, maxAddrs)
	}
}

// The names listed first get the room: an earlier name whose answer grows
// trims the later ones, and a later name that left addresses out takes
// them back, with a lookup at once, when it gets more room.
func TestRoomFollowsTheOrderOfNames(t *testing.T) {
	const maxAddrs = 10
	var mu sync.Mutex
	table := map[string]int{"a.test": 4, "b.test": 8}
	lookups := map[string]int{}
	lookup := func(_ context.Context, host string) ([]netip.Addr, error) {
		mu.Lock()
		defer mu.Unlock()
		lookups[host]++
		out := make([]netip.Addr, table[host])
		for i := range out {
			out[i] = netip.AddrFrom4([4]byte{10, 4, 0, byte(i)})
		}
		return out, nil
	}
	clk := testingclock.NewFakeClock(time.Unix(1000, 0))
	r := New(Options{Lookup: lookup, MaxAddrs: maxAddrs, Clock: clk})
	key := cache.ObjectName{Namespace: "ns", Name: "two"}
	const period = time.Minute
	run(t, r)

	type want struct{ kept, omitted int }
	expect := func(what string, order []string, w map[string]want) {
		t.Helper()
		var got map[string]Answer
		await(t, 5*time.Second, what, func() bool {
			got = r.Sync(key, order, period)
			for h, w := range w {
				if a := got[h]; !a.Resolved || len(a.Addrs) != w.kept || a.Omitted != w.omitted {
					return false
				}
			}
			return true
		})
	}
	expect("b gets what a leaves", []string{"a.test", "b.test"}, map[string]want{"a.test": {4, 0}, "b.test": {6, 2}})

	// a grows at its next lookup: b is trimmed even before its own.
	mu.Lock()
	table["a.test"] = 7
	mu.Unlock()
	clk.Step(period)
	expect("a's growth trims b", []string{"a.test", "b.test"}, map[string]want{"a.test": {7, 0}, "b.test": {3, 5}})

	// b goes first now: it gets the room at once, without the clock
	// moving, through a lookup of its own, and a keeps what is left.
	mu.Lock()
	before := lookups["b.test"]
	mu.Unlock()
	expect("b first", []string{"b.test", "a.test"}, map[string]want{"b.test": {8, 0}, "a.test": {2, 5}})
	mu.Lock()
	defer mu.Unlock()
	if lookups["b.test"] != before+1 {
		t.Errorf("b was looked up %d times for its new room, want once", lookups["b.test"]-before)
	}
}
