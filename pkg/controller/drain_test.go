package controller

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/probe"
	"github.com/crddemo/crddemo/pkg/resolve"
)

// conditionsOf is a slice endpoint's ready, serving and terminating.
type conditionsOf struct{ ready, serving, terminating bool }

// sliceConditions returns the conditions of every endpoint of plan's
// created slices, by address.
func sliceConditions(t *testing.T, plan slicePlan) map[string]conditionsOf {
	t.Helper()
	out := map[string]conditionsOf{}
	for _, s := range plan.create {
		for _, ep := range s.Endpoints {
			c := ep.Conditions
			if c.Ready == nil || c.Serving == nil || c.Terminating == nil {
				t.Fatalf("%s: a condition is unset: %+v", ep.Addresses[0], c)
			}
			out[ep.Addresses[0]] = conditionsOf{*c.Ready, *c.Serving, *c.Terminating}
		}
	}
	return out
}

// TestDrainSliceConditions: a drained endpoint stays in its slice, not
// ready and terminating, serving as its probe says (true when probing is
// off); every address of a drained hostname drains; an address listed by a
// drained and an undrained entry drains.
func TestDrainSliceConditions(t *testing.T) {
	const a, b, c = "10.1.0.1", "10.1.0.2", "10.1.0.3"
	answers := map[string]resolve.Answer{"db.example.test": {Resolved: true, Addrs: []netip.Addr{netip.MustParseAddr(b), netip.MustParseAddr(c)}}}
	for _, tc := range []struct {
		name      string
		endpoints []crddemov1.Endpoint
		probeOff  bool
		failOpen  bool
		states    map[string]probe.State // by address; absent: Unknown
		want      map[string]conditionsOf
	}{
		{
			name:      "drained, probe passes",
			endpoints: []crddemov1.Endpoint{{IP: a, Drain: true}, {IP: b}},
			states:    map[string]probe.State{a: reachable, b: reachable},
			want:      map[string]conditionsOf{a: {false, true, true}, b: {true, true, false}},
		},
		{
			name:      "drained, probe fails",
			endpoints: []crddemov1.Endpoint{{IP: a, Drain: true}, {IP: b}},
			states:    map[string]probe.State{a: unreachable, b: reachable},
			want:      map[string]conditionsOf{a: {false, false, true}, b: {true, true, false}},
		},
		{
			name:      "drained, no verdict yet",
			endpoints: []crddemov1.Endpoint{{IP: a, Drain: true}},
			want:      map[string]conditionsOf{a: {false, false, true}},
		},
		{
			name:      "drained, probing off",
			endpoints: []crddemov1.Endpoint{{IP: a, Drain: true}, {IP: b}},
			probeOff:  true,
			want:      map[string]conditionsOf{a: {false, true, true}, b: {true, true, false}},
		},
		{
			name:      "undrained, as before",
			endpoints: []crddemov1.Endpoint{{IP: a}, {IP: b}},
			states:    map[string]probe.State{a: unreachable, b: reachable},
			want:      map[string]conditionsOf{a: {false, false, false}, b: {true, true, false}},
		},
		{
			name:      "drained hostname: every address",
			endpoints: []crddemov1.Endpoint{{IP: a}, {Hostname: "db.example.test", Drain: true}},
			states:    map[string]probe.State{a: reachable, b: reachable, c: unreachable},
			want:      map[string]conditionsOf{a: {true, true, false}, b: {false, true, true}, c: {false, false, true}},
		},
		{
			name:      "an address drained by one of its entries",
			endpoints: []crddemov1.Endpoint{{IP: b}, {Hostname: "db.example.test", Drain: true}},
			states:    map[string]probe.State{b: reachable, c: reachable},
			want:      map[string]conditionsOf{b: {false, true, true}, c: {false, true, true}},
		},
		{
			// Fail-open opens the endpoints in rotation only, and is
			// judged by them: the drained one passing keeps it shut
			// for nobody.
			name:      "fail-open leaves the drained endpoint out",
			endpoints: []crddemov1.Endpoint{{IP: a, Drain: true}, {IP: b}},
			failOpen:  true,
			states:    map[string]probe.State{a: reachable, b: unreachable},
			want:      map[string]conditionsOf{a: {false, true, true}, b: {true, true, false}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			md := newMydemo("db", "", 5432, func(md *crddemov1.Mydemo) {
				md.Spec.Endpoints = tc.endpoints
				md.Spec.Probe = &crddemov1.Probe{Type: crddemov1.ProbeTypeTCP, FailOpen: tc.failOpen}
				if tc.probeOff {
					probeNone(md)
				}
			})
			spec, err := parseSpec(md, answers, nil)
			if err != nil {
				t.Fatal(err)
			}
			targets, probed := planProbes(md, spec, nil)
			states := make([]probe.State, len(targets))
			for i, target := range targets {
				states[i] = tc.states[strings.TrimSuffix(target.Address, ":5432")]
			}
			in := viewOf(md, spec, probed, states)
			if len(probed) != len(tc.want) && !tc.probeOff {
				t.Errorf("%d endpoints probed, want every one of %d (a drained endpoint is probed too)", len(probed), len(tc.want))
			}
			plan, _ := planEndpointSlices(md, spec, in, nil)
			got := sliceConditions(t, plan)
			if len(got) != len(tc.want) {
				t.Fatalf("slice endpoints %+v, want %+v", got, tc.want)
			}
			for addr, want := range tc.want {
				if got[addr] != want {
					t.Errorf("%s: ready/serving/terminating = %+v, want %+v", addr, got[addr], want)
				}
			}
		})
	}
}

// drained is a view of one probed endpoint per state, at 10.1.0.1, ...,
// those listed in drain drained.
func drained(drain []int, states ...probe.State) []endpointView {
	out := views(states...)
	for _, i := range drain {
		out[i].drain = true
	}
	return out
}

// TestDrainStatus: a drained endpoint says Draining, keeps its verdict,
// counts as not ready in the totals and the Ready condition, and is no one's
// Unreachable: neither the Ready reason nor a Warning Event.
func TestDrainStatus(t *testing.T) {
	md := newMydemo("db", "", 5432)
	refused := down(fixedNow, "connection refused")
	for _, tc := range []struct {
		name                  string
		endpoints             []endpointView
		probeOff              bool
		wantReady             metav1.ConditionStatus
		wantReason, wantCount string
		wantProbe             []string // status.endpoints[].probe
	}{
		{"only endpoint drained, passing", drained([]int{0}, up(fixedNow)), false, metav1.ConditionFalse, ReasonDraining, "0/1", []string{crddemov1.ProbeReachable}},
		{"only endpoint drained, failing", drained([]int{0}, refused), false, metav1.ConditionFalse, ReasonDraining, "0/1", []string{crddemov1.ProbeUnreachable}},
		{"only endpoint drained, probing off", []endpointView{{endpoint: endpoint{addr: netip.MustParseAddr("10.1.0.1"), drain: true}}}, true, metav1.ConditionFalse, ReasonDraining, "0/1", []string{crddemov1.ProbeNotProbed}},
		{"one of two drained", drained([]int{0}, up(fixedNow), up(fixedNow)), false, metav1.ConditionTrue, reasonPartiallyReady, "1/2", []string{crddemov1.ProbeReachable, crddemov1.ProbeReachable}},
		{"drained and failing beside one in rotation failing", drained([]int{0}, up(fixedNow), refused), false, metav1.ConditionFalse, reasonNotReachable, "0/2", []string{crddemov1.ProbeReachable, crddemov1.ProbeUnreachable}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := statusInput{pub: published, endpoints: tc.endpoints}
			if tc.probeOff {
				in.probeOff = msgProbeDisabledNone
			}
			st := computeStatus(md, in, fixedNow)
			ready := meta.FindStatusCondition(st.Conditions, crddemov1.ConditionReady)
			if ready.Status != tc.wantReady || ready.Reason != tc.wantReason {
				t.Errorf("Ready = %s/%s (%s), want %s/%s", ready.Status, ready.Reason, ready.Message, tc.wantReady, tc.wantReason)
			}
			if st.EndpointsReady != tc.wantCount || st.TotalEndpoints != int32(len(tc.endpoints)) {
				t.Errorf("endpointsReady %q of %d, want %q of %d", st.EndpointsReady, st.TotalEndpoints, tc.wantCount, len(tc.endpoints))
			}
			for i, es := range st.Endpoints {
				wantReason := ""
				if tc.endpoints[i].drain {
					wantReason = ReasonDraining
				}
				if es.Reason != wantReason || es.Probe != tc.wantProbe[i] || !es.Published {
					t.Errorf("endpoint %d: %+v, want reason %q, probe %s, published", i, es, wantReason, tc.wantProbe[i])
				}
				if tc.endpoints[i].drain && es.Ready {
					t.Errorf("endpoint %d drains and is ready", i)
				}
			}
		})
	}
}

// TestDrainEvents: starting and stopping a drain is one Normal Event each;
// a drained endpoint's probe failing or recovering is no Event; one that
// returns from draining while its probe fails is the Unreachable Warning.
func TestDrainEvents(t *testing.T) {
	md := newMydemo("db", "", 5432)
	t1 := fixedNow.Add(time.Minute)
	status := func(drain []int, states ...probe.State) crddemov1.MydemoStatus {
		return computeStatus(md, statusInput{pub: published, endpoints: drained(drain, states...)}, fixedNow)
	}
	inRotation := status(nil, up(fixedNow), up(fixedNow))
	draining := status([]int{0}, up(fixedNow), up(fixedNow))
	drainingDown := status([]int{0}, down(t1, "connection refused"), up(fixedNow))
	backDown := status(nil, down(t1, "connection refused"), up(fixedNow))
	for _, tc := range []struct {
		name     string
		old, new crddemov1.MydemoStatus
		want     []string // "type reason"
	}{
		{"drain starts", inRotation, draining, []string{"Normal " + ReasonDraining}},
		{"drained endpoint fails its probe", draining, drainingDown, nil},
		{"drained endpoint recovers", drainingDown, draining, nil},
		{"drain stops", draining, inRotation, []string{"Normal " + ReasonDrainStopped}},
		{"drain stops while failing", drainingDown, backDown, []string{"Normal " + ReasonDrainStopped, "Warning " + ReasonUnreachable}},
		{"at rest", draining, draining, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, ev := range transitions(tc.old, tc.new) {
				got = append(got, ev.eventType+" "+ev.reason)
				if !strings.Contains(ev.message, "10.1.0.1") {
					t.Errorf("%s does not name the endpoint: %q", ev.reason, ev.message)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("events %q, want %q", got, tc.want)
			}
		})
	}
}

// settled syncs md twice from an empty cluster (the second sees the
// cluster IP the API server would have allocated) and returns the stored
// Mydemo and its Service and slice.
func settled(t *testing.T, md *crddemov1.Mydemo, states map[string]probe.State) (*crddemov1.Mydemo, []runtime.Object) {
	t.Helper()
	key := cache.MetaObjectToName(md)
	f := newFixture(t, []*crddemov1.Mydemo{md}, nil, nil)
	for addr, s := range states {
		f.prober.states[addr] = s
	}
	if r := f.sync(key); r.retry {
		t.Fatalf("sync: %+v", r)
	}
	svc := f.storedService(key)
	svc.Spec.ClusterIP = "10.96.0.10"
	svc.ResourceVersion = "1"
	slice := f.storedSlice(md.Namespace, md.Name+"-ipv4")
	slice.ResourceVersion = "1"
	children := []runtime.Object{svc, slice}
	f2 := newFixture(t, []*crddemov1.Mydemo{f.storedMydemo(key)}, children, nil)
	for addr, s := range states {
		f2.prober.states[addr] = s
	}
	if r := f2.sync(key); r.retry {
		t.Fatalf("sync: %+v", r)
	}
	f2.expectActions(nil, []string{"update mydemos/status"})
	return f2.storedMydemo(key), children
}

// TestSyncDrainToggle: a drain toggle is one slice write and one status
// write (and a Normal Event); at rest a drained Mydemo writes nothing, and
// a restart (a prober that knows nothing) writes nothing either: the
// seed reads a drained endpoint's verdict from its serving condition.
func TestSyncDrainToggle(t *testing.T) {
	states := map[string]probe.State{"10.1.2.3:5432": reachable, "10.1.2.4:5432": reachable}
	md := newMydemo("db", "", 5432, func(md *crddemov1.Mydemo) {
		md.Spec.Endpoints = []crddemov1.Endpoint{{IP: "10.1.2.3"}, {IP: "10.1.2.4"}}
	})
	stored, children := settled(t, md, states)
	key := cache.MetaObjectToName(stored)

	// toggle sets drain on the first endpoint, as a user's update would,
	// syncs once, and returns the new Mydemo and children.
	toggle := func(stored *crddemov1.Mydemo, children []runtime.Object, drain bool, event string) (*crddemov1.Mydemo, []runtime.Object) {
		t.Helper()
		md := stored.DeepCopy()
		md.Spec.Endpoints[0].Drain = drain
		md.Generation++
		f := newFixture(t, []*crddemov1.Mydemo{md}, children, nil)
		for addr, s := range states {
			f.prober.states[addr] = s
		}
		if r := f.sync(key); r.retry {
			t.Fatalf("sync: %+v", r)
		}
		f.expectActions([]string{"update endpointslices"}, []string{"update mydemos/status"})
		f.expectEvents("Normal " + event)
		slice := f.storedSlice("ns", "db-ipv4")
		cond := slice.Endpoints[0].Conditions
		if *cond.Ready == drain || *cond.Terminating != drain || !*cond.Serving {
			t.Errorf("drain=%v: slice conditions %+v", drain, cond)
		}
		return f.storedMydemo(key), []runtime.Object{children[0], slice}
	}
	atRest := func(md *crddemov1.Mydemo, children []runtime.Object, restarted bool) {
		t.Helper()
		f := newFixture(t, []*crddemov1.Mydemo{md}, children, nil)
		if !restarted {
			for addr, s := range states {
				f.prober.states[addr] = s
			}
		}
		if r := f.sync(key); r.retry {
			t.Fatalf("sync: %+v", r)
		}
		f.expectActions(nil, nil)
		f.expectEvents()
		if restarted && f.prober.states["10.1.2.3:5432"].Reachability != probe.Reachable {
			t.Errorf("restart seeded the drained endpoint with %+v, want Reachable", f.prober.states["10.1.2.3:5432"])
		}
	}

	drainedMd, drainedChildren := toggle(stored, children, true, ReasonDraining)
	if es := drainedMd.Status.Endpoints[0]; es.Reason != ReasonDraining || es.Ready || es.Probe != crddemov1.ProbeReachable {
		t.Errorf("drained endpoint status %+v", es)
	}
	if drainedMd.Status.EndpointsReady != "1/2" {
		t.Errorf("endpointsReady %q, want 1/2", drainedMd.Status.EndpointsReady)
	}
	drainedChildren[1].(*discoveryv1.EndpointSlice).ResourceVersion = "2"
	atRest(drainedMd, drainedChildren, false)
	atRest(drainedMd, drainedChildren, true)

	back, _ := toggle(drainedMd, drainedChildren, false, ReasonDrainStopped)
	if es := back.Status.Endpoints[0]; es.Reason != "" || !es.Ready || back.Status.EndpointsReady != "2/2" {
		t.Errorf("undrained: %+v, %q", es, back.Status.EndpointsReady)
	}
}
