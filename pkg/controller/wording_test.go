package controller

import (
	"testing"
	"time"

	"k8s.io/client-go/tools/cache"
	clocktesting "k8s.io/utils/clock/testing"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/probe"
)

// TestSyncPacesWordingOnlyWrites: a target that fails a different way on
// every probe changes its endpoint's message each time. The first change
// is written; the next, within wordingRefresh, waits (no write) and is
// written once wordingRefresh has passed. A change of the verdict is never
// held back.
func TestSyncPacesWordingOnlyWrites(t *testing.T) {
	stored, children := converge(t, newMydemo("web", "10.1.2.3", 8080), probe.State{Reachability: probe.Unreachable, Message: "HTTP 500 from GET /"})
	f := newFixture(t, []*crddemov1.Mydemo{stored}, children, nil)
	key := cache.MetaObjectToName(stored)
	clk := f.controller.clock.(*clocktesting.FakeClock)
	addr := f.addr(key)
	sync := func(state probe.State) {
		t.Helper()
		f.prober.states[addr] = state
		if r := f.sync(key); r.retry {
			t.Fatalf("sync: %+v", r)
		}
	}
	message := func() string { return f.storedMydemo(key).Status.Endpoints[0].Message }

	sync(probe.State{Reachability: probe.Unreachable, Message: "HTTP 501 from GET /"})
	f.expectActions(nil, []string{"update mydemos/status"})

	sync(probe.State{Reachability: probe.Unreachable, Message: "HTTP 502 from GET /"})
	f.expectActions(nil, nil)
	if m := message(); m != "HTTP 501 from GET /" {
		t.Errorf("message %q written within wordingRefresh", m)
	}

	clk.Step(wordingRefresh)
	sync(probe.State{Reachability: probe.Unreachable, Message: "HTTP 503 from GET /"})
	f.expectActions(nil, []string{"update mydemos/status"})
	if m := message(); m != "HTTP 503 from GET /" {
		t.Errorf("message %q, want the latest after wordingRefresh", m)
	}

	// A verdict goes at once, however recent the last write.
	sync(probe.State{Reachability: probe.Reachable, Since: clk.Now()})
	f.expectActions([]string{"update endpointslices"}, []string{"update mydemos/status"})
}

func TestWordingPace(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Unix(1000, 0))
	p := newWordingPace(clk)
	key := cache.ObjectName{Namespace: "ns", Name: "md"}
	if w := p.wait(key); w != 0 {
		t.Fatalf("never written: wait %v", w)
	}
	p.wrote(key)
	clk.SetTime(clk.Now().Add(10 * time.Second))
	if w := p.wait(key); w != wordingRefresh-10*time.Second {
		t.Errorf("wait %v, want %v", w, wordingRefresh-10*time.Second)
	}
	p.forget(key)
	if w := p.wait(key); w != 0 {
		t.Errorf("forgotten: wait %v", w)
	}
}
