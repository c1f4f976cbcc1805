package controller

import (
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/probe"
	"github.com/crddemo/crddemo/pkg/resolve"
)

// Headless Services, endpoint names and zone hints, planned without a
// client (test/integration proves them on the API server and CoreDNS).

// zoned is a Mydemo of three named endpoints in zones a, b and c (the
// third's zone is given), probed on 5432.
func zoned(thirdZone string, mutate ...func(*crddemov1.Mydemo)) *crddemov1.Mydemo {
	return newMydemo("db", "", 5432, append([]func(*crddemov1.Mydemo){func(md *crddemov1.Mydemo) {
		md.Spec.Endpoints = []crddemov1.Endpoint{
			{IP: "10.1.0.1", Name: "db-0", Zone: "a"},
			{IP: "10.1.0.2", Name: "db-1", Zone: "b"},
			{IP: "10.1.0.3", Name: "db-2", Zone: thirdZone},
		}
	}}, mutate...)...)
}

func preferSameZone(md *crddemov1.Mydemo) {
	md.Spec.TrafficDistribution = ptr.To(corev1.ServiceTrafficDistributionPreferSameZone)
}

func headless(md *crddemov1.Mydemo) { md.Spec.Headless = true }

func TestHeadlessServiceSwitchReplaces(t *testing.T) {
	v4 := corev1.IPv4Protocol
	for name, tc := range map[string]struct {
		from, to    bool
		wantReplace bool
	}{
		"ClusterIP to headless": {false, true, true},
		"headless to ClusterIP": {true, false, true},
		"headless, converged":   {true, true, false},
		"ClusterIP, converged":  {false, false, false},
	} {
		t.Run(name, func(t *testing.T) {
			md := newMydemo("db", "10.1.0.1", 5432)
			existing := ourService(md, corev1.IPFamilyPolicySingleStack, v4)
			if tc.from {
				existing.Spec.ClusterIP, existing.Spec.ClusterIPs = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}
			}
			md.Spec.Headless = tc.to
			spec := specOf(t, md)
			fams := planServiceFamilies(spec, existing)
			if ask := planFamilyQuestion(md, mainService(md), spec, existing, fams); ask != nil {
				t.Fatalf("asked %+v", ask.Spec)
			}
			change := planServiceChange(md, mainService(md), spec, existing, fams)
			if (change.replace != nil) != tc.wantReplace || change.update != nil {
				t.Fatalf("change %+v, want replace %v and no update", change, tc.wantReplace)
			}
			if tc.wantReplace && isHeadless(change.replace) != tc.to {
				t.Errorf("replacement has clusterIP %q, want headless %v", change.replace.Spec.ClusterIP, tc.to)
			}
		})
	}
	first, _ := planNewService(newMydemo("db", "10.1.0.1", 5432, headless), mainService(newMydemo("db", "10.1.0.1", 5432, headless)), specOf(t, newMydemo("db", "10.1.0.1", 5432, headless)))
	if first.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("new headless Service has clusterIP %q", first.Spec.ClusterIP)
	}
}

func TestTrafficDistributionOnService(t *testing.T) {
	md := zoned("c")
	existing := ourService(md, corev1.IPFamilyPolicySingleStack, corev1.IPv4Protocol)
	preferSameZone(md)
	spec := specOf(t, md)
	change := planServiceChange(md, mainService(md), spec, existing, planServiceFamilies(spec, existing))
	if change.update == nil || ptr.Deref(change.update.Spec.TrafficDistribution, "") != corev1.ServiceTrafficDistributionPreferSameZone {
		t.Fatalf("change %+v, want an update that sets PreferSameZone", change)
	}
	if again := planServiceChange(md, mainService(md), spec, change.update, planServiceFamilies(spec, change.update)); again.update != nil || again.replace != nil {
		t.Errorf("the updated Service plans another write: %+v", again)
	}
	md.Spec.TrafficDistribution = nil
	if off := planServiceChange(md, mainService(md), spec, change.update, planServiceFamilies(spec, change.update)); off.update == nil || off.update.Spec.TrafficDistribution != nil {
		t.Errorf("unsetting trafficDistribution: %+v, want an update that clears it", off)
	}
}

// sliceEntries is the one IPv4 slice plan publishes, by address.
func sliceEntries(t *testing.T, plan slicePlan) map[string]discoveryv1.Endpoint {
	t.Helper()
	if len(plan.create) != 1 {
		t.Fatalf("%d slices created, want 1", len(plan.create))
	}
	out := map[string]discoveryv1.Endpoint{}
	for _, ep := range plan.create[0].Endpoints {
		out[ep.Addresses[0]] = ep
	}
	return out
}

func TestEndpointNamesBecomeHostnames(t *testing.T) {
	// A named hostname endpoint: every address it resolves to carries
	// the name.
	md := newMydemo("db", "", 5432, probeNone, func(md *crddemov1.Mydemo) {
		md.Spec.Endpoints = []crddemov1.Endpoint{
			{IP: "10.1.0.1", Name: "primary"},
			{Hostname: "replicas.example.test", Name: "replica"},
			{IP: "10.1.0.9"},
		}
	})
	answers := map[string]resolve.Answer{"replicas.example.test": {Resolved: true, Addrs: []netip.Addr{netip.MustParseAddr("10.1.0.2"), netip.MustParseAddr("10.1.0.3")}}}
	spec, err := parseSpec(md, answers, nil)
	if err != nil {
		t.Fatal(err)
	}
	plan, _ := planEndpointSlices(md, spec, viewOf(md, spec, nil, nil), nil)
	got := sliceEntries(t, plan)
	for addr, want := range map[string]string{"10.1.0.1": "primary", "10.1.0.2": "replica", "10.1.0.3": "replica", "10.1.0.9": ""} {
		if h := ptr.Deref(got[addr].Hostname, ""); h != want {
			t.Errorf("%s: hostname %q, want %q", addr, h, want)
		}
	}
}

func TestZoneHints(t *testing.T) {
	for name, tc := range map[string]struct {
		md     *crddemov1.Mydemo
		states []probe.State
		// wantHints by address ("" for none); wantCond the ZoneHints
		// condition ("" for none) and a text its message must hold.
		wantHints map[string]string
		wantCond  metav1.ConditionStatus
		wantMsg   string
	}{
		"no trafficDistribution: no hints, no condition": {
			md: zoned("c"), states: []probe.State{reachable, reachable, reachable},
			wantHints: map[string]string{"10.1.0.1": "", "10.1.0.2": "", "10.1.0.3": ""},
		},
		"every ready endpoint zoned: each hinted for its zone": {
			md: zoned("c", preferSameZone), states: []probe.State{reachable, reachable, reachable},
			wantHints: map[string]string{"10.1.0.1": "a", "10.1.0.2": "b", "10.1.0.3": "c"}, wantCond: metav1.ConditionTrue,
		},
		"PreferClose is the same": {
			md: zoned("c", func(md *crddemov1.Mydemo) {
				md.Spec.TrafficDistribution = ptr.To(corev1.ServiceTrafficDistributionPreferClose)
			}), states: []probe.State{reachable, reachable, reachable},
			wantHints: map[string]string{"10.1.0.1": "a", "10.1.0.2": "b", "10.1.0.3": "c"}, wantCond: metav1.ConditionTrue,
		},
		"a not-ready endpoint loses its hint": {
			md: zoned("c", preferSameZone), states: []probe.State{unreachable, reachable, reachable},
			wantHints: map[string]string{"10.1.0.1": "", "10.1.0.2": "b", "10.1.0.3": "c"}, wantCond: metav1.ConditionTrue,
		},
		"a ready endpoint without a zone: no hints at all": {
			md: zoned("", preferSameZone), states: []probe.State{reachable, reachable, reachable},
			wantHints: map[string]string{"10.1.0.1": "", "10.1.0.2": "", "10.1.0.3": ""}, wantCond: metav1.ConditionFalse,
			wantMsg: "10.1.0.3 (db-2)",
		},
		"an unready endpoint without a zone does not matter": {
			md: zoned("", preferSameZone), states: []probe.State{reachable, reachable, unreachable},
			wantHints: map[string]string{"10.1.0.1": "a", "10.1.0.2": "b", "10.1.0.3": ""}, wantCond: metav1.ConditionTrue,
		},
	} {
		t.Run(name, func(t *testing.T) {
			spec := specOf(t, tc.md)
			in := viewOf(tc.md, spec, mainSlots(3), tc.states)
			plan, _ := planEndpointSlices(tc.md, spec, in, nil)
			got := sliceEntries(t, plan)
			for addr, want := range tc.wantHints {
				var zones []string
				if h := got[addr].Hints; h != nil {
					for _, z := range h.ForZones {
						zones = append(zones, z.Name)
					}
				}
				if strings.Join(zones, ",") != want {
					t.Errorf("%s: hints %v, want %q", addr, zones, want)
				}
			}
			// The hints are planned with readiness: the same input
			// again writes nothing.
			if again, _ := planEndpointSlices(tc.md, spec, in, plan.create); !again.empty() {
				t.Errorf("at rest the plan writes %+v", again)
			}

			in.pub = published
			status := computeStatus(tc.md, in, fixedNow)
			cond := meta.FindStatusCondition(status.Conditions, crddemov1.ConditionZoneHints)
			switch {
			case tc.wantCond == "" && cond != nil:
				t.Errorf("ZoneHints condition %+v, want none", cond)
			case tc.wantCond != "" && (cond == nil || cond.Status != tc.wantCond || !strings.Contains(cond.Message, tc.wantMsg)):
				t.Errorf("ZoneHints condition %+v, want %s with %q", cond, tc.wantCond, tc.wantMsg)
			}
		})
	}
}

// TestZoneHintsConditionListsAtMostFive bounds the message of a Mydemo
// with many endpoints without a zone.
func TestZoneHintsConditionListsAtMostFive(t *testing.T) {
	md := newMydemo("db", "", 5432, probeNone, preferSameZone, withEndpoints("10.1.0.1", "10.1.0.2", "10.1.0.3", "10.1.0.4", "10.1.0.5", "10.1.0.6", "10.1.0.7"))
	spec := specOf(t, md)
	status := computeStatus(md, viewOf(md, spec, nil, nil), fixedNow)
	cond := meta.FindStatusCondition(status.Conditions, crddemov1.ConditionZoneHints)
	if cond == nil || cond.Reason != reasonEndpointsWithoutZone || !strings.Contains(cond.Message, "10.1.0.5 and 2 more") || strings.Contains(cond.Message, "10.1.0.6") {
		t.Errorf("condition %+v, want five endpoints named and 2 more", cond)
	}
}

// TestRolesInheritNamesAndZones: on a fake clientset, a headless,
// PreferSameZone Mydemo with named, zoned endpoints and a role: the role's
// Service has the same trafficDistribution but keeps a cluster IP (see
// newService), and its slice's member carries the endpoint's name and its
// zone hint.
func TestRolesInheritNamesAndZones(t *testing.T) {
	md := zoned("c", headless, preferSameZone, withRole("primary", 1), func(md *crddemov1.Mydemo) { md.Spec.Port = 6379 })
	key := cache.MetaObjectToName(md)
	f := newFixture(t, []*crddemov1.Mydemo{md}, nil, nil)
	for _, a := range []string{"10.1.0.1", "10.1.0.2", "10.1.0.3"} {
		f.prober.states[a+":6379"] = reachable
		f.prober.states[stateKey("primary", a+":6379")] = unreachable
	}
	f.prober.states[stateKey("primary", "10.1.0.2:6379")] = reachable
	if r := f.sync(key); r.retry {
		t.Fatalf("sync: %+v", r)
	}
	for name, wantHeadless := range map[string]bool{"db": true, "db-primary": false} {
		svc := f.storedService(cache.ObjectName{Namespace: "ns", Name: name})
		if isHeadless(svc) != wantHeadless || ptr.Deref(svc.Spec.TrafficDistribution, "") != corev1.ServiceTrafficDistributionPreferSameZone {
			t.Errorf("Service %s: clusterIP %q, trafficDistribution %v; want headless %v and PreferSameZone", name, svc.Spec.ClusterIP, svc.Spec.TrafficDistribution, wantHeadless)
		}
	}
	slice := f.storedSlice("ns", "db-primary-ipv4")
	if len(slice.Endpoints) != 1 {
		t.Fatalf("role slice %+v", slice.Endpoints)
	}
	ep := slice.Endpoints[0]
	if ep.Addresses[0] != "10.1.0.2" || ptr.Deref(ep.Hostname, "") != "db-1" || ep.Hints == nil || len(ep.Hints.ForZones) != 1 || ep.Hints.ForZones[0].Name != "b" {
		t.Errorf("role member %+v, want 10.1.0.2 named db-1 and hinted for zone b", ep)
	}
}
