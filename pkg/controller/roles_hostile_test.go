package controller

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/probe"
)

// Tests from the hostile review of roles (issue 22): each states a rule of
// the issue that the code on main broke.

// restarted is a fixture of a new process: the caches hold what f's API
// holds (every Service and EndpointSlice, and the Mydemo with the status
// f wrote), and the prober knows nothing yet.
func restarted(t *testing.T, f *fixture, key cache.ObjectName) *fixture {
	t.Helper()
	ctx := context.Background()
	var children []runtime.Object
	svcs, err := f.kubeClient.CoreV1().Services(key.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range svcs.Items {
		svcs.Items[i].ResourceVersion = "1"
		children = append(children, &svcs.Items[i])
	}
	eps, err := f.kubeClient.DiscoveryV1().EndpointSlices(key.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range eps.Items {
		eps.Items[i].ResourceVersion = "1"
		children = append(children, &eps.Items[i])
	}
	return newFixture(t, []*crddemov1.Mydemo{f.storedMydemo(key)}, children, nil)
}

// roleSliceAddrs are the ready addresses of the slices of Service svc in
// f's API.
func roleSliceAddrs(t *testing.T, f *fixture, namespace, svc string) []string {
	t.Helper()
	eps, err := f.kubeClient.DiscoveryV1().EndpointSlices(namespace).List(context.Background(), metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range eps.Items {
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready != nil && *ep.Conditions.Ready {
				out = append(out, ep.Addresses[0])
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestRoleRestartDuringConflictTakesNoSide: two endpoints pass the probe
// of a role with maxEndpoints 1 and none was published, so the role
// publishes none (issue 22, rule 2). A restart must not change that: the
// first of the two whose role probe answers after the restart must not be
// taken in while the other's verdict is still the seed.
func TestRoleRestartDuringConflictTakesNoSide(t *testing.T) {
	md := newMydemo("db", "", 6379, withEndpoints("10.1.0.1", "10.1.0.2"), withRole("primary", 1))
	key := cache.MetaObjectToName(md)
	f := newFixture(t, []*crddemov1.Mydemo{md}, nil, nil)
	for _, a := range []string{"10.1.0.1:6379", "10.1.0.2:6379"} {
		f.prober.states[a] = reachable
		f.prober.states[stateKey("primary", a)] = reachable
	}
	if r := f.sync(key); r.retry {
		t.Fatalf("sync: %+v", r)
	}
	if got := roleSliceAddrs(t, f, "ns", "db-primary"); len(got) != 0 {
		t.Fatalf("two primaries, none held: the role publishes %v", got)
	}
	if st := f.storedMydemo(key).Status; len(st.Roles) != 1 || st.Roles[0].Reason != crddemov1.RoleConflict {
		t.Fatalf("status roles %+v, want RoleConflict", st.Roles)
	}

	// The process restarts. The Mydemo's own verdicts come from the seeds
	// (status and slices agree: both reachable); the role probe of
	// 10.1.0.1 answers first, that of 10.1.0.2 is not back yet.
	f2 := restarted(t, f, key)
	f2.prober.states[stateKey("primary", "10.1.0.1:6379")] = reachable
	if r := f2.sync(key); r.retry {
		t.Fatalf("sync after restart: %+v", r)
	}
	if got := roleSliceAddrs(t, f2, "ns", "db-primary"); len(got) != 0 {
		t.Errorf("after a restart during a conflict, the role publishes %v: one of two primaries was picked", got)
	}
}

// TestPlanBoundedRoleWaitsForPendingVerdicts: a role with maxEndpoints
// takes in no newcomer while a ready endpoint's role verdict is pending
// and could make more pass than allowed: that endpoint may be a second
// primary (a split brain the role must not pick a side of). A member it
// already publishes stays.
func TestPlanBoundedRoleWaitsForPendingVerdicts(t *testing.T) {
	for _, tc := range []struct {
		name        string
		held        []string
		wantMembers []string
	}{
		{name: "nothing held: no newcomer while another verdict is pending"},
		{name: "the held one stays", held: []string{"10.0.0.1"}, wantMembers: []string{"10.0.0.1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, in := roleInput(1, []string{"10.0.0.1"}, []string{"10.0.0.2"}, nil)
			res := planRoleMembers(r, in, addrSet(tc.held...))
			var got []string
			for _, a := range res.members {
				got = append(got, a.String())
			}
			if !slices.Equal(got, tc.wantMembers) {
				t.Errorf("members %v, want %v (%s: %s)", got, tc.wantMembers, res.reason, res.message)
			}
		})
	}
}

// TestRoleSeedDuringConflict: a restart while a role with maxEndpoints is
// in conflict must not seed the endpoints that passed but were not taken
// in as failing: the status recorded that more passed than the members,
// so their verdict is unknown, not Unreachable. Seeding them Unreachable
// makes the restart report the conflict over (a status write), then again
// (a second Warning), and lets the first to answer be taken in.
func TestRoleSeedDuringConflict(t *testing.T) {
	md := newMydemo("db", "", 6379, withEndpoints("10.1.0.1", "10.1.0.2"), withRole("primary", 1))
	md.Status.ObservedGeneration = md.Generation
	md.Status.Roles = []crddemov1.RoleStatus{{Name: "primary", Reason: crddemov1.RoleConflict, Ready: 1, Passing: 2, Endpoints: []string{"10.1.0.1"}}}
	md.Status.Endpoints = []crddemov1.EndpointStatus{{Address: "10.1.0.1", Roles: []string{"primary"}}, {Address: "10.1.0.2"}}
	slice := newEndpointSlice(md, roleService(md, "primary"), "db-primary-ipv4", discoveryv1.AddressTypeIPv4, []sliceEndpoint{{addr: "10.1.0.1", ready: true}}, nil)
	r := recordedRoleOf(md, roleService(md, "primary"), []*discoveryv1.EndpointSlice{slice})
	if s := r.seed(netip.MustParseAddr("10.1.0.1")); s.Reachability != probe.Reachable {
		t.Errorf("the member: seed %v, want Reachable", s)
	}
	if s := r.seed(netip.MustParseAddr("10.1.0.2")); s.Reachability != probe.Unknown {
		t.Errorf("an endpoint that passed but was not taken in: seed %v, want none (Unknown)", s)
	}
}

// TestRoleStatusFollowsTheSlices: when the write of a role's slice fails,
// status.endpoints[].roles and the RoleChanged Event must not announce
// the members the slice does not publish: the Service still sends the
// writes to the primary it had.
func TestRoleStatusFollowsTheSlices(t *testing.T) {
	md := newMydemo("db", "", 6379, withEndpoints("10.1.0.1", "10.1.0.2"), withRole("primary", 1))
	key := cache.MetaObjectToName(md)
	f := newFixture(t, []*crddemov1.Mydemo{md}, nil, nil)
	set := func(f *fixture, primary string) {
		for _, a := range []string{"10.1.0.1:6379", "10.1.0.2:6379"} {
			f.prober.states[a] = reachable
			f.prober.states[stateKey("primary", a)] = unreachable
		}
		f.prober.states[stateKey("primary", primary+":6379")] = reachable
	}
	set(f, "10.1.0.1")
	if r := f.sync(key); r.retry {
		t.Fatalf("sync: %+v", r)
	}
	f2 := restarted(t, f, key)
	set(f2, "10.1.0.2")
	// An object-count quota (or the admission policy) refuses the
	// slice's update.
	f2.kubeClient.PrependReactor("update", "endpointslices", func(action core.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "discovery.k8s.io", Resource: "endpointslices"}, "db-primary-ipv4", errors.New("exceeded quota"))
	})
	f2.sync(key)
	if got := roleSliceAddrs(t, f2, "ns", "db-primary"); !slices.Equal(got, []string{"10.1.0.1"}) {
		t.Fatalf("the role's slice publishes %v, want the update refused", got)
	}
	st := f2.storedMydemo(key).Status
	for _, e := range st.Endpoints {
		if e.Address == "10.1.0.2" && slices.Contains(e.Roles, "primary") {
			t.Errorf("status says 10.1.0.2 is the primary (summary %q) while the Service publishes 10.1.0.1", st.RoleSummary)
		}
	}
	var events []string
	for len(f2.recorder.Events) > 0 {
		events = append(events, <-f2.recorder.Events)
	}
	for _, e := range events {
		if e == "Normal RoleChanged role primary moved from 10.1.0.1 to 10.1.0.2" {
			t.Errorf("Event %q for a move the slice did not make", e)
		}
	}
}

// TestRolesAtRestDualStack: a Mydemo with endpoints of both families and
// a role writes nothing at rest, on a single-stack and on a dual-stack
// cluster.
func TestRolesAtRestDualStack(t *testing.T) {
	for _, dual := range []bool{false, true} {
		t.Run(fmt.Sprintf("dual=%v", dual), func(t *testing.T) {
			md := newMydemo("db", "", 6379, withEndpoints("10.1.0.1", "fd00::1"), withRole("replica", 0), withRole("master", 1))
			key := cache.MetaObjectToName(md)
			f := newFixture(t, []*crddemov1.Mydemo{md}, nil, nil)
			set := func(f *fixture) {
				if dual {
					f.dualStack()
				}
				for _, a := range []string{"10.1.0.1:6379", "[fd00::1]:6379"} {
					f.prober.states[a] = reachable
					f.prober.states[stateKey("replica", a)] = reachable
				}
				f.prober.states[stateKey("master", "10.1.0.1:6379")] = unreachable
				f.prober.states[stateKey("master", "[fd00::1]:6379")] = reachable
			}
			set(f)
			for round := range 3 {
				if r := f.sync(key); r.retry {
					t.Fatalf("round %d: %+v", round, r)
				}
				f = restarted(t, f, key)
				set(f)
			}
			if r := f.sync(key); r.retry {
				t.Fatalf("at rest: %+v", r)
			}
			f.expectActions(nil, nil)
		})
	}
}

// TestBoundedRoleNeverExceedsMaxBetweenWrites: with maxEndpoints 3 and
// members in both families, a member leaving one family's slice while
// another joins the other family's slice must not publish four at any
// instant: the slice that loses one is written before the one that gains.
func TestBoundedRoleNeverExceedsMaxBetweenWrites(t *testing.T) {
	md := newMydemo("db", "", 6379, withEndpoints("10.1.0.1", "10.1.0.2", "fd00::1", "fd00::2"), withRole("writer", 3))
	key := cache.MetaObjectToName(md)
	f := newFixture(t, []*crddemov1.Mydemo{md}, nil, nil)
	set := func(f *fixture, members ...string) {
		f.dualStack()
		for _, a := range []string{"10.1.0.1:6379", "10.1.0.2:6379", "[fd00::1]:6379", "[fd00::2]:6379"} {
			f.prober.states[a] = reachable
			f.prober.states[stateKey("writer", a)] = unreachable
		}
		for _, m := range members {
			f.prober.states[stateKey("writer", m)] = reachable
		}
	}
	set(f, "10.1.0.1:6379", "[fd00::1]:6379", "[fd00::2]:6379")
	if r := f.sync(key); r.retry {
		t.Fatalf("sync: %+v", r)
	}
	f2 := restarted(t, f, key)
	set(f2, "10.1.0.1:6379", "10.1.0.2:6379", "[fd00::1]:6379")
	most := 0
	f2.kubeClient.PrependReactor("*", "endpointslices", func(action core.Action) (bool, runtime.Object, error) {
		if action.GetVerb() == "list" || action.GetVerb() == "watch" {
			return false, nil, nil
		}
		// Count what the role publishes once this write is applied.
		defer func() { most = max(most, len(roleSliceAddrsAfter(t, f2, action))) }()
		return false, nil, nil
	})
	if r := f2.sync(key); r.retry {
		t.Fatalf("sync: %+v", r)
	}
	if got := roleSliceAddrs(t, f2, "ns", "db-writer"); len(got) != 3 {
		t.Fatalf("the role publishes %v after the move", got)
	}
	if most > 3 {
		t.Errorf("between two slice writes the role published %d endpoints, maxEndpoints 3", most)
	}
}

// roleSliceAddrsAfter are the ready addresses of db-writer's slices once
// action (a slice write) is applied: the tracker's objects with the
// written one in its place.
func roleSliceAddrsAfter(t *testing.T, f *fixture, action core.Action) []string {
	t.Helper()
	byName := map[string]*discoveryv1.EndpointSlice{}
	eps, err := f.kubeClient.Tracker().List(discoveryv1.SchemeGroupVersion.WithResource("endpointslices"), discoveryv1.SchemeGroupVersion.WithKind("EndpointSlice"), "ns")
	if err != nil {
		t.Fatal(err)
	}
	for i := range eps.(*discoveryv1.EndpointSliceList).Items {
		s := &eps.(*discoveryv1.EndpointSliceList).Items[i]
		byName[s.Name] = s
	}
	// By verb: CreateAction and UpdateAction are the same interface, so a
	// type switch cannot tell them apart.
	switch action.GetVerb() {
	case "create", "update":
		s := action.(core.CreateAction).GetObject().(*discoveryv1.EndpointSlice)
		byName[s.Name] = s
	case "delete":
		delete(byName, action.(core.DeleteAction).GetName())
	}
	var out []string
	for _, s := range byName {
		if s.Labels[discoveryv1.LabelServiceName] != "db-writer" {
			continue
		}
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready != nil && *ep.Conditions.Ready {
				out = append(out, ep.Addresses[0])
			}
		}
	}
	return out
}

// TestRoleStatusWhenTheMydemosSlicesFail: when the Mydemo's own slices
// cannot be written, the roles' slices are left as they are, and status
// must say so: not that the primary left its role.
func TestRoleStatusWhenTheMydemosSlicesFail(t *testing.T) {
	md := newMydemo("db", "", 6379, withEndpoints("10.1.0.1", "10.1.0.2"), withRole("primary", 1))
	key := cache.MetaObjectToName(md)
	f := newFixture(t, []*crddemov1.Mydemo{md}, nil, nil)
	set := func(f *fixture, down string) {
		for _, a := range []string{"10.1.0.1:6379", "10.1.0.2:6379"} {
			f.prober.states[a] = reachable
			f.prober.states[stateKey("primary", a)] = unreachable
		}
		f.prober.states[stateKey("primary", "10.1.0.1:6379")] = reachable
		if down != "" {
			f.prober.states[down] = unreachable
		}
	}
	set(f, "")
	if r := f.sync(key); r.retry {
		t.Fatalf("sync: %+v", r)
	}
	f2 := restarted(t, f, key)
	set(f2, "10.1.0.2:6379")
	f2.kubeClient.PrependReactor("update", "endpointslices", func(action core.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "discovery.k8s.io", Resource: "endpointslices"}, "db-ipv4", errors.New("exceeded quota"))
	})
	f2.sync(key)
	if got := roleSliceAddrs(t, f2, "ns", "db-primary"); !slices.Equal(got, []string{"10.1.0.1"}) {
		t.Fatalf("the role's slice publishes %v", got)
	}
	st := f2.storedMydemo(key).Status
	if len(st.Endpoints) == 0 || !slices.Contains(st.Endpoints[0].Roles, "primary") {
		t.Errorf("status says 10.1.0.1 is not the primary (summary %q) while the role's Service publishes it", st.RoleSummary)
	}
	var events []string
	for len(f2.recorder.Events) > 0 {
		events = append(events, <-f2.recorder.Events)
	}
	for _, e := range events {
		if strings.Contains(e, "left it") {
			t.Errorf("Event %q for a member the Service still publishes", e)
		}
	}
}
