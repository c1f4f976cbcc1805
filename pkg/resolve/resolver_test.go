package resolve

import (
	"context"
	"math"
	"net/netip"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/tools/cache"

	"github.com/crddemo/crddemo/test/dnsserver"
)

func TestResolverFollowsTheServer(t *testing.T) {
	dns := dnsserver.Start(t, "127.0.0.1")
	a1, a2, a3 := netip.MustParseAddr("10.1.0.1"), netip.MustParseAddr("10.1.0.2"), netip.MustParseAddr("2001:db8::3")
	dns.Set("db.test", a2, a1)

	var mu sync.Mutex
	changes := 0
	r := New(Options{Server: dns.Addr, OnChange: func(cache.ObjectName) { mu.Lock(); changes++; mu.Unlock() }})
	key := cache.ObjectName{Namespace: "ns", Name: "db"}
	if got := r.Sync(key, []string{"db.test"}, time.Second)["db.test"]; got.Resolved {
		t.Fatalf("answered before Run: %+v", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	wait := func(what string, cond func(Answer) bool) Answer {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			a := r.Sync(key, []string{"db.test"}, time.Second)["db.test"]
			if cond(a) {
				return a
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s: %+v", what, a)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	got := wait("first answer", func(a Answer) bool { return a.Resolved })
	if want := []netip.Addr{a1, a2}; len(got.Addrs) != 2 || got.Addrs[0] != want[0] || got.Addrs[1] != want[1] || got.Err != "" {
		t.Fatalf("answer %+v, want sorted %v", got, want)
	}

	dns.Set("db.test", a1, a2, a3)
	wait("three addresses", func(a Answer) bool { return len(a.Addrs) == 3 })

	// A broken server keeps the last good answer, and says so.
	dns.Fail("db.test")
	got = wait("the failure reported", func(a Answer) bool { return a.Err != "" })
	if len(got.Addrs) != 3 || !got.Resolved || got.KeptUntil.IsZero() {
		t.Errorf("a failed lookup dropped the last good answer: %+v", got)
	}

	// NXDOMAIN empties the answer at once.
	dns.Delete("db.test")
	got = wait("NXDOMAIN", func(a Answer) bool { return len(a.Addrs) == 0 })
	if !got.Resolved || got.Err != "no such host (NXDOMAIN)" {
		t.Errorf("NXDOMAIN answer %+v", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if changes < 4 {
		t.Errorf("%d change notifications, want at least 4 (first, grown, failing, gone)", changes)
	}
}

func TestFailureOutlivesTheAnswer(t *testing.T) {
	now := time.Unix(1000, 0)
	good := Answer{Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.1")}, Resolved: true}
	fail := &testErr{}
	kept := nextAnswer(good, now, time.Minute, nil, fail, now.Add(30*time.Second), math.MaxInt)
	if len(kept.Addrs) != 1 || kept.Err == "" || !kept.KeptUntil.Equal(now.Add(time.Minute)) {
		t.Errorf("within the keep time: %+v", kept)
	}
	// The same failure later reads the same, so status is not rewritten.
	if again := nextAnswer(kept, now, time.Minute, nil, fail, now.Add(40*time.Second), math.MaxInt); !again.Equal(kept) {
		t.Errorf("a repeated failure changed the answer: %+v vs %+v", again, kept)
	}
	dropped := nextAnswer(kept, now, time.Minute, nil, fail, now.Add(2*time.Minute), math.MaxInt)
	if len(dropped.Addrs) != 0 || dropped.Resolved {
		t.Errorf("after the keep time: %+v", dropped)
	}
}

type testErr struct{}

func (*testErr) Error() string { return "server misbehaving" }

// Most Mydemos have no hostname, and every one of their syncs asks.
func TestSyncWithoutHostnamesAllocatesNothing(t *testing.T) {
	r := New(Options{})
	key := cache.ObjectName{Namespace: "ns", Name: "ip-only"}
	if allocs := testing.AllocsPerRun(100, func() { r.Sync(key, nil, time.Second) }); allocs != 0 {
		t.Errorf("%v allocations per Sync without hostnames, want 0", allocs)
	}
}
