package controller

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/probe"
	"github.com/crddemo/crddemo/pkg/resolve"
)

// withRole adds a role with a Redis probe on the Mydemo's port.
func withRole(name string, maxEndpoints int32) func(*crddemov1.Mydemo) {
	return func(md *crddemov1.Mydemo) {
		r := crddemov1.Role{Name: name, Probe: crddemov1.Probe{Type: crddemov1.ProbeTypeRedis, Redis: &crddemov1.RedisProbe{Role: crddemov1.RedisRole(name)}}}
		if maxEndpoints > 0 {
			r.MaxEndpoints = ptr.To(maxEndpoints)
		}
		md.Spec.Roles = append(md.Spec.Roles, r)
	}
}

// roleInput is a view of endpoints a, b, c, all ready unless listed in
// notReady, with the role's verdicts: passing ones Reachable, the rest
// Unreachable, unknown ones Unknown.
func roleInput(max int, passing, unknown, notReady []string) (roleView, statusInput) {
	addrs := []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}
	r := roleView{roleSpec: roleSpec{ref: serviceRef{name: "db-primary", role: "primary"}, port: 8008, max: max}}
	var in statusInput
	for _, a := range addrs {
		state := reachable
		if contains(notReady, a) {
			state = unreachable
		}
		in.endpoints = append(in.endpoints, endpointView{endpoint: endpoint{addr: netip.MustParseAddr(a)}, probed: true, state: state})
		role := unreachable
		switch {
		case contains(passing, a):
			role = reachable
		case contains(unknown, a):
			role = probe.State{}
		}
		r.states = append(r.states, role)
		r.probed = append(r.probed, true)
	}
	return r, in
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func addrSet(addrs ...string) map[netip.Addr]bool {
	out := map[netip.Addr]bool{}
	for _, a := range addrs {
		out[netip.MustParseAddr(a)] = true
	}
	return out
}

// TestPlanRoleMembers: who a role publishes, and the single-writer rules
// of maxEndpoints.
func TestPlanRoleMembers(t *testing.T) {
	for _, tc := range []struct {
		name              string
		max               int
		passing, unknown  []string
		notReady, held    []string
		wantMembers       []string
		wantReason        string
		wantPassing       int
		wantMessageSubstr string
	}{
		{name: "no limit: every ready endpoint that passes", passing: []string{"10.0.0.1", "10.0.0.3"},
			wantMembers: []string{"10.0.0.1", "10.0.0.3"}, wantReason: crddemov1.RoleReady, wantPassing: 2},
		{name: "a not ready endpoint is not a member even if it passes", passing: []string{"10.0.0.1", "10.0.0.2"}, notReady: []string{"10.0.0.2"},
			wantMembers: []string{"10.0.0.1"}, wantReason: crddemov1.RoleReady, wantPassing: 1},
		{name: "the primary", max: 1, passing: []string{"10.0.0.2"},
			wantMembers: []string{"10.0.0.2"}, wantReason: crddemov1.RoleReady, wantPassing: 1},
		{name: "a second primary: the one held stays", max: 1, passing: []string{"10.0.0.1", "10.0.0.2"}, held: []string{"10.0.0.2"},
			wantMembers: []string{"10.0.0.2"}, wantReason: crddemov1.RoleConflict, wantPassing: 2, wantMessageSubstr: "keeping 10.0.0.2"},
		{name: "two primaries and none held: none", max: 1, passing: []string{"10.0.0.1", "10.0.0.2"},
			wantReason: crddemov1.RoleConflict, wantPassing: 2, wantMessageSubstr: "publishing none"},
		{name: "two primaries, the held one failed: none", max: 1, passing: []string{"10.0.0.1", "10.0.0.3"}, held: []string{"10.0.0.2"},
			wantReason: crddemov1.RoleConflict, wantPassing: 2},
		{name: "the held one failed and one passes: it takes over", max: 1, passing: []string{"10.0.0.3"}, held: []string{"10.0.0.2"},
			wantMembers: []string{"10.0.0.3"}, wantReason: crddemov1.RoleReady, wantPassing: 1},
		{name: "the held one is not ready any more: not kept", max: 1, passing: []string{"10.0.0.1", "10.0.0.2"}, held: []string{"10.0.0.2"}, notReady: []string{"10.0.0.2"},
			wantMembers: []string{"10.0.0.1"}, wantReason: crddemov1.RoleReady, wantPassing: 1},
		{name: "two of three allowed, three pass, two held", max: 2, passing: []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}, held: []string{"10.0.0.1", "10.0.0.3"},
			wantMembers: []string{"10.0.0.1", "10.0.0.3"}, wantReason: crddemov1.RoleConflict, wantPassing: 3},
		{name: "first verdicts pending", max: 1, unknown: []string{"10.0.0.1", "10.0.0.2"},
			wantReason: crddemov1.RoleProbing},
		{name: "nobody passes", max: 1,
			wantReason: crddemov1.RoleNoEndpoints},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, in := roleInput(tc.max, tc.passing, tc.unknown, tc.notReady)
			res := planRoleMembers(r, in, addrSet(tc.held...))
			var got []string
			for _, a := range res.members {
				got = append(got, a.String())
			}
			if !reflect.DeepEqual(got, tc.wantMembers) || res.reason != tc.wantReason || res.passing != tc.wantPassing {
				t.Errorf("members %v reason %s passing %d, want %v %s %d (%s)", got, res.reason, res.passing, tc.wantMembers, tc.wantReason, tc.wantPassing, res.message)
			}
			if !strings.Contains(res.message, tc.wantMessageSubstr) {
				t.Errorf("message %q, want it to contain %q", res.message, tc.wantMessageSubstr)
			}
		})
	}
}

func TestRolePort(t *testing.T) {
	ports := []servicePort{{name: "redis", port: 6379, protocol: corev1.ProtocolTCP}, {name: "dns", port: 53, protocol: corev1.ProtocolUDP}}
	for _, tc := range []struct {
		name    string
		probe   crddemov1.Probe
		want    int32
		wantErr string
	}{
		{name: "default: the first TCP port", probe: crddemov1.Probe{Type: crddemov1.ProbeTypeHTTP}, want: 6379},
		{name: "a number not published (Patroni)", probe: crddemov1.Probe{Type: crddemov1.ProbeTypeHTTP, Port: ptr.To(intstr.FromInt32(8008))}, want: 8008},
		{name: "by name", probe: crddemov1.Probe{Type: crddemov1.ProbeTypeDNS, Port: ptr.To(intstr.FromString("dns"))}, want: 53},
		{name: "a name of the wrong protocol", probe: crddemov1.Probe{Type: crddemov1.ProbeTypeTCP, Port: ptr.To(intstr.FromString("dns"))}, wantErr: "UDP port"},
		{name: "an unknown name", probe: crddemov1.Probe{Port: ptr.To(intstr.FromString("http"))}, wantErr: "not a port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := rolePort("primary", &tc.probe, ports)
			if got != tc.want || (tc.wantErr == "") != (err == "") || !strings.Contains(err, tc.wantErr) {
				t.Errorf("rolePort = %d, %q; want %d, %q", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// TestRoleEvents: one Normal Event for the roles that changed, worded for
// a single endpoint moving; a Warning when a conflict starts, also for a
// role new to the status; nothing for the members of a role new to the
// status, or for a role unchanged.
func TestRoleEvents(t *testing.T) {
	status := func(roles map[string][]string, reasons map[string]string) crddemov1.MydemoStatus {
		var st crddemov1.MydemoStatus
		for _, a := range []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"} {
			es := crddemov1.EndpointStatus{Address: a}
			for _, role := range []string{"primary", "replica"} {
				if contains(roles[role], a) {
					es.Roles = append(es.Roles, role)
				}
			}
			st.Endpoints = append(st.Endpoints, es)
		}
		for _, role := range []string{"primary", "replica"} {
			if reason, ok := reasons[role]; ok {
				st.Roles = append(st.Roles, crddemov1.RoleStatus{Name: role, Reason: reason, Message: "why " + role})
			}
		}
		return st
	}
	ready := map[string]string{"primary": crddemov1.RoleReady, "replica": crddemov1.RoleReady}
	for _, tc := range []struct {
		name     string
		old, new crddemov1.MydemoStatus
		want     []string
	}{
		{name: "the primary moves",
			old:  status(map[string][]string{"primary": {"10.0.0.1"}, "replica": {"10.0.0.2"}}, ready),
			new:  status(map[string][]string{"primary": {"10.0.0.2"}, "replica": {"10.0.0.1"}}, ready),
			want: []string{"Normal RoleChanged role primary moved from 10.0.0.1 to 10.0.0.2; role replica moved from 10.0.0.2 to 10.0.0.1"}},
		{name: "a replica joins",
			old:  status(map[string][]string{"replica": {"10.0.0.2"}}, ready),
			new:  status(map[string][]string{"replica": {"10.0.0.2", "10.0.0.3"}}, ready),
			want: []string{"Normal RoleChanged role replica: joined 10.0.0.3 (2 endpoint(s))"}},
		{name: "the primary is lost",
			old:  status(map[string][]string{"primary": {"10.0.0.1"}}, ready),
			new:  status(nil, ready),
			want: []string{"Normal RoleChanged role primary: 10.0.0.1 left it, no endpoint holds it"}},
		{name: "a conflict starts",
			old:  status(map[string][]string{"primary": {"10.0.0.1"}}, ready),
			new:  status(map[string][]string{"primary": {"10.0.0.1"}}, map[string]string{"primary": crddemov1.RoleConflict, "replica": crddemov1.RoleReady}),
			want: []string{"Warning RoleConflict role primary: why primary"}},
		{name: "a role new to the status",
			old:  status(nil, nil),
			new:  status(map[string][]string{"primary": {"10.0.0.1"}}, ready),
			want: nil},
		{name: "a role new to the status whose Service is taken",
			old:  status(map[string][]string{"primary": {"10.0.0.1"}}, map[string]string{"primary": crddemov1.RoleReady}),
			new:  status(map[string][]string{"primary": {"10.0.0.1"}}, map[string]string{"primary": crddemov1.RoleReady, "replica": crddemov1.RoleNotPublished}),
			want: []string{"Warning RoleConflict role replica: why replica"}},
		{name: "nothing changed",
			old:  status(map[string][]string{"primary": {"10.0.0.1"}}, ready),
			new:  status(map[string][]string{"primary": {"10.0.0.1"}}, ready),
			want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, ev := range roleEvents(tc.old, tc.new) {
				got = append(got, ev.eventType+" "+ev.reason+" "+ev.message)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("events\n got  %q\n want %q", got, tc.want)
			}
		})
	}
}

// TestSyncPublishesRoles: on a fake clientset, a Mydemo with a primary and
// a replica role gets a Service and a slice per role, holding the members
// only; the primary moving costs one slice update per role, one status
// write and one Event; at rest nothing is written.
func TestSyncPublishesRoles(t *testing.T) {
	md := newMydemo("db", "", 6379, withEndpoints("10.1.0.1", "10.1.0.2"), withRole("primary", 1), withRole("replica", 0))
	key := cache.MetaObjectToName(md)
	f := newFixture(t, []*crddemov1.Mydemo{md}, nil, nil)
	set := func(f *fixture, primary, replica string) {
		for _, a := range []string{"10.1.0.1", "10.1.0.2"} {
			f.prober.states[a+":6379"] = reachable
			f.prober.states[stateKey("primary", a+":6379")] = unreachable
			f.prober.states[stateKey("replica", a+":6379")] = unreachable
		}
		f.prober.states[stateKey("primary", primary+":6379")] = reachable
		f.prober.states[stateKey("replica", replica+":6379")] = reachable
	}
	set(f, "10.1.0.1", "10.1.0.2")
	if r := f.sync(key); r.retry {
		t.Fatalf("sync: %+v", r)
	}
	f.expectActions(
		[]string{"create services", "create endpointslices", "create services", "create endpointslices", "create services", "create endpointslices"},
		[]string{"update mydemos/status"},
	)
	f.expectEvents("Normal Published")
	if got := len(f.prober.targets[key]); got != 6 {
		t.Errorf("%d probe targets, want 6 (2 endpoints × the Mydemo's probe and 2 roles)", got)
	}
	for role, want := range map[string]string{"primary": "10.1.0.1", "replica": "10.1.0.2"} {
		svc := f.storedService(cache.ObjectName{Namespace: "ns", Name: "db-" + role})
		slice := f.storedSlice("ns", "db-"+role+"-ipv4")
		if svc.Labels[LabelRole] != role || !metav1.IsControlledBy(svc, md) || svc.Spec.Selector != nil ||
			slice.Labels[discoveryv1.LabelServiceName] != "db-"+role || slice.Labels[LabelRole] != role ||
			len(slice.Endpoints) != 1 || slice.Endpoints[0].Addresses[0] != want || !*slice.Endpoints[0].Conditions.Ready {
			t.Errorf("role %s: Service %+v, slice %+v", role, svc, slice)
		}
	}
	st := f.storedMydemo(key).Status
	if st.RoleSummary != "primary=10.1.0.1 replica=10.1.0.2" || len(st.Roles) != 2 || st.Roles[0].ServiceName != "db-primary" ||
		st.Roles[0].Reason != crddemov1.RoleReady || !reflect.DeepEqual(st.Endpoints[0].Roles, []string{"primary"}) {
		t.Errorf("status %+v", st)
	}

	// The next sync, from what the first one wrote: the primary moves.
	var children []runtime.Object
	for _, name := range []string{"db", "db-primary", "db-replica"} {
		svc := f.storedService(cache.ObjectName{Namespace: "ns", Name: name})
		svc.ResourceVersion = "1"
		slice := f.storedSlice("ns", name+"-ipv4")
		slice.ResourceVersion = "1"
		children = append(children, svc, slice)
	}
	f2 := newFixture(t, []*crddemov1.Mydemo{f.storedMydemo(key)}, children, nil)
	set(f2, "10.1.0.1", "10.1.0.2")
	if r := f2.sync(key); r.retry {
		t.Fatalf("sync at rest: %+v", r)
	}
	f2.expectActions(nil, nil)
	f2.expectEvents()

	set(f2, "10.1.0.2", "10.1.0.1")
	if r := f2.sync(key); r.retry {
		t.Fatalf("sync: %+v", r)
	}
	f2.expectActions([]string{"update endpointslices", "update endpointslices"}, []string{"update mydemos/status"})
	f2.expectEvents("Normal RoleChanged role primary moved from 10.1.0.1 to 10.1.0.2; role replica moved from 10.1.0.2 to 10.1.0.1")
	if s := f2.storedSlice("ns", "db-primary-ipv4"); len(s.Endpoints) != 1 || s.Endpoints[0].Addresses[0] != "10.1.0.2" {
		t.Errorf("primary slice %+v", s.Endpoints)
	}
}

// TestSyncRemovesARole: a role dropped from the spec loses its Service and
// slices; the Mydemo's own stay.
func TestSyncRemovesARole(t *testing.T) {
	md := newMydemo("db", "10.1.0.1", 6379, probeNone)
	withRole("primary", 1)(md)
	md.Spec.Roles[0].Probe = crddemov1.Probe{Type: crddemov1.ProbeTypeNone}
	_, children := converge(t, md, reachable)
	f := newFixture(t, []*crddemov1.Mydemo{md}, nil, nil)
	if r := f.sync(cache.MetaObjectToName(md)); r.retry {
		t.Fatalf("sync: %+v", r)
	}
	for _, name := range []string{"db-primary"} {
		svc := f.storedService(cache.ObjectName{Namespace: "ns", Name: name})
		svc.ResourceVersion = "1"
		slice := f.storedSlice("ns", name+"-ipv4")
		slice.ResourceVersion = "1"
		children = append(children, svc, slice)
	}
	without := f.storedMydemo(cache.MetaObjectToName(md))
	without.Spec.Roles = nil
	without.Generation++
	f2 := newFixture(t, []*crddemov1.Mydemo{without}, children, nil)
	if r := f2.sync(cache.MetaObjectToName(md)); r.retry {
		t.Fatalf("sync: %+v", r)
	}
	f2.expectActions([]string{"delete services", "delete endpointslices"}, []string{"update mydemos/status"})
	if st := f2.storedMydemo(cache.MetaObjectToName(md)).Status; st.Roles != nil || st.RoleSummary != "" {
		t.Errorf("status of a Mydemo without roles: %+v", st)
	}
}

// TestRoleSeeds: after a restart a role's member starts passing only when
// status and slices agree; with no record of the role, nothing is seeded.
func TestRoleSeeds(t *testing.T) {
	md := newMydemo("db", "", 6379, withEndpoints("10.1.0.1", "10.1.0.2"), withRole("primary", 1))
	md.Status.ObservedGeneration = md.Generation
	md.Status.Roles = []crddemov1.RoleStatus{{Name: "primary"}}
	md.Status.Endpoints = []crddemov1.EndpointStatus{{Address: "10.1.0.1", Roles: []string{"primary"}}, {Address: "10.1.0.2"}}
	slice := newEndpointSlice(md, roleService(md, "primary"), "db-primary-ipv4", discoveryv1.AddressTypeIPv4, []sliceEndpoint{{addr: "10.1.0.1", ready: true}}, nil)
	a1, a2 := netip.MustParseAddr("10.1.0.1"), netip.MustParseAddr("10.1.0.2")

	r := recordedRoleOf(md, roleService(md, "primary"), []*discoveryv1.EndpointSlice{slice})
	if r.seed(a1).Reachability != probe.Reachable || r.seed(a2).Reachability != probe.Unreachable {
		t.Errorf("agreeing records: seeds %v, %v", r.seed(a1), r.seed(a2))
	}
	// The slice moved to 10.1.0.2 and the status was not written yet.
	moved := newEndpointSlice(md, roleService(md, "primary"), "db-primary-ipv4", discoveryv1.AddressTypeIPv4, []sliceEndpoint{{addr: "10.1.0.2", ready: true}}, nil)
	r = recordedRoleOf(md, roleService(md, "primary"), []*discoveryv1.EndpointSlice{moved})
	if r.seed(a1).Reachability != probe.Unreachable || r.seed(a2).Reachability != probe.Unreachable {
		t.Errorf("disagreeing records: seeds %v, %v, want both not passing", r.seed(a1), r.seed(a2))
	}
	md.Status.Roles = nil
	if s := recordedRoleOf(md, roleService(md, "primary"), []*discoveryv1.EndpointSlice{slice}).seed(a1); s.Reachability != probe.Unknown {
		t.Errorf("no record of the role: seed %v", s)
	}
}

// TestBoundedRoleCountsHosts: maxEndpoints counts writers. A hostname
// answering one IPv4 and one IPv6 address is one dual-stack server, so a
// primary role of maxEndpoints 1 publishes both its addresses; a
// hostname answering two IPv4 addresses is two servers, which is a
// conflict.
func TestBoundedRoleCountsHosts(t *testing.T) {
	for _, tc := range []struct {
		name     string
		answer   []string
		wantAddr int
		reason   string
	}{
		{name: "one dual-stack host", answer: []string{"10.1.0.1", "fd00::1"}, wantAddr: 2, reason: crddemov1.RoleReady},
		{name: "two IPv4 hosts under one name", answer: []string{"10.1.0.1", "10.1.0.2"}, wantAddr: 0, reason: crddemov1.RoleConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			md := newMydemo("db", "", 6379, withRole("primary", 1), func(md *crddemov1.Mydemo) {
				md.Spec.Endpoints = []crddemov1.Endpoint{{Hostname: "redis.test"}}
			})
			key := cache.MetaObjectToName(md)
			f := newFixture(t, []*crddemov1.Mydemo{md}, nil, nil)
			f.dualStack()
			var addrs []netip.Addr
			for _, a := range tc.answer {
				ip := netip.MustParseAddr(a)
				addrs = append(addrs, ip)
				f.prober.states[netJoin(ip, 6379)] = reachable
				f.prober.states[stateKey("primary", netJoin(ip, 6379))] = reachable
			}
			f.resolver.answers["redis.test"] = resolve.Answer{Resolved: true, Addrs: addrs}
			if r := f.sync(key); r.retry {
				t.Fatalf("sync: %+v", r)
			}
			st := f.storedMydemo(key).Status.Roles
			if got := roleSliceAddrs(t, f, "ns", "db-primary"); len(got) != tc.wantAddr || len(st) != 1 || st[0].Reason != tc.reason {
				t.Errorf("primary publishes %v, status %+v; want %d addresses, reason %s", got, st, tc.wantAddr, tc.reason)
			}
		})
	}
}
