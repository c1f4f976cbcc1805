package controller

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/probe"
)

// The planner is tested here without any client: inputs in, desired
// objects, status and Events out. sync_test.go proves, on a fake
// clientset, the API actions the whole sync sends.

// specOf parses md's spec as observe does, with no DNS answers or policy.
func specOf(t *testing.T, md *crddemov1.Mydemo) parsedSpec {
	t.Helper()
	spec, err := parseSpec(md, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// withEndpoints sets md's endpoints to the given literal addresses.
func withEndpoints(ips ...string) func(*crddemov1.Mydemo) {
	return func(md *crddemov1.Mydemo) {
		md.Spec.IP = ""
		md.Spec.Endpoints = nil
		for _, ip := range ips {
			md.Spec.Endpoints = append(md.Spec.Endpoints, crddemov1.Endpoint{IP: ip})
		}
	}
}

// ourService is md's Service in families, as the API server returns it.
func ourService(md *crddemov1.Mydemo, policy corev1.IPFamilyPolicy, fams ...corev1.IPFamily) *corev1.Service {
	spec, err := parseSpec(md, nil, nil)
	if err != nil {
		panic(err)
	}
	svc := newService(md, mainService(md), spec, fams)
	svc.Spec.IPFamilies = fams
	svc.Spec.IPFamilyPolicy = ptr.To(policy)
	svc.Spec.ClusterIP = "10.96.0.10"
	svc.Spec.SessionAffinity = corev1.ServiceAffinityNone
	svc.ResourceVersion = "5"
	return svc
}

func TestPlanNewService(t *testing.T) {
	for name, tc := range map[string]struct {
		ips                    []string
		wantFirst, wantSecond  []corev1.IPFamily
		wantPolicy             corev1.IPFamilyPolicy
		wantSecondPolicyIsDual bool
	}{
		"IPv4 only":  {[]string{"10.1.0.1"}, []corev1.IPFamily{corev1.IPv4Protocol}, nil, corev1.IPFamilyPolicySingleStack, false},
		"IPv6 only":  {[]string{"2001:db8::1"}, []corev1.IPFamily{corev1.IPv6Protocol}, nil, corev1.IPFamilyPolicySingleStack, false},
		"IPv6 first": {[]string{"2001:db8::1", "10.1.0.1"}, []corev1.IPFamily{corev1.IPv6Protocol}, []corev1.IPFamily{corev1.IPv4Protocol}, corev1.IPFamilyPolicyPreferDualStack, true},
		"IPv4 first": {[]string{"10.1.0.1", "2001:db8::1"}, []corev1.IPFamily{corev1.IPv4Protocol}, []corev1.IPFamily{corev1.IPv6Protocol}, corev1.IPFamilyPolicyPreferDualStack, true},
	} {
		t.Run(name, func(t *testing.T) {
			md := newMydemo("db", "", 5432, withEndpoints(tc.ips...))
			first, second := planNewService(md, mainService(md), specOf(t, md))
			if !reflect.DeepEqual(first.Spec.IPFamilies, tc.wantFirst) || *first.Spec.IPFamilyPolicy != tc.wantPolicy {
				t.Errorf("first: families %v policy %v, want %v %v", first.Spec.IPFamilies, *first.Spec.IPFamilyPolicy, tc.wantFirst, tc.wantPolicy)
			}
			if !metav1.IsControlledBy(first, md) || first.Spec.Selector != nil || first.Spec.Ports[0].Port != 5432 {
				t.Errorf("first is not md's selector-less Service: %+v", first)
			}
			switch {
			case tc.wantSecond == nil && second != nil:
				t.Errorf("second = %v, want none", second.Spec.IPFamilies)
			case tc.wantSecond != nil && (second == nil || !reflect.DeepEqual(second.Spec.IPFamilies, tc.wantSecond) ||
				(*second.Spec.IPFamilyPolicy == corev1.IPFamilyPolicyPreferDualStack) != tc.wantSecondPolicyIsDual):
				t.Errorf("second = %+v, want families %v", second, tc.wantSecond)
			}
		})
	}
}

func TestPlanServiceSteps(t *testing.T) {
	v4, v6 := corev1.IPv4Protocol, corev1.IPv6Protocol
	for name, tc := range map[string]struct {
		ips      []string
		port     int32
		existing func(md *crddemov1.Mydemo) *corev1.Service
		// wantAsk: the families the family question asks for (nil: no
		// question).
		wantAsk []corev1.IPFamily
		// wantChange: "", "update" or "replace", and the families of the
		// Service it writes.
		wantChange     string
		wantChangeFams []corev1.IPFamily
	}{
		"converged": {
			ips: []string{"10.1.0.1"}, port: 80,
			existing: func(md *crddemov1.Mydemo) *corev1.Service {
				return ourService(md, corev1.IPFamilyPolicySingleStack, v4)
			},
		},
		"port changed": {
			ips: []string{"10.1.0.1"}, port: 81,
			existing: func(md *crddemov1.Mydemo) *corev1.Service {
				svc := ourService(md, corev1.IPFamilyPolicySingleStack, v4)
				svc.Spec.Ports[0].Port, svc.Spec.Ports[0].TargetPort.IntVal = 80, 80
				return svc
			},
			wantChange: "update", wantChangeFams: []corev1.IPFamily{v4},
		},
		"family gone, served unknown: ask": {
			ips: []string{"2001:db8::1"}, port: 80,
			existing: func(md *crddemov1.Mydemo) *corev1.Service {
				return ourService(md, corev1.IPFamilyPolicySingleStack, v4)
			},
			wantAsk: []corev1.IPFamily{v4},
			// On the same (unanswered) Service, the change replaces it;
			// applyService plans the change from the answer instead.
			wantChange: "replace", wantChangeFams: []corev1.IPFamily{v6},
		},
		"family gone, other served: replace": {
			ips: []string{"2001:db8::1"}, port: 80,
			existing: func(md *crddemov1.Mydemo) *corev1.Service {
				return ourService(md, corev1.IPFamilyPolicyPreferDualStack, v4, v6)
			},
			wantChange: "replace", wantChangeFams: []corev1.IPFamily{v6},
		},
		"family gone, both served by policy: replace, no question": {
			ips: []string{"2001:db8::1"}, port: 80,
			existing: func(md *crddemov1.Mydemo) *corev1.Service {
				return ourService(md, corev1.IPFamilyPolicyRequireDualStack, v4, v6)
			},
			wantChange: "replace", wantChangeFams: []corev1.IPFamily{v6},
		},
		"family gone, other not served: keep": {
			ips: []string{"2001:db8::1"}, port: 80,
			existing: func(md *crddemov1.Mydemo) *corev1.Service {
				return ourService(md, corev1.IPFamilyPolicyPreferDualStack, v4)
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			md := newMydemo("db", "", tc.port, withEndpoints(tc.ips...))
			spec := specOf(t, md)
			existing := tc.existing(md)
			fams := planServiceFamilies(spec, existing)
			ask := planFamilyQuestion(md, mainService(md), spec, existing, fams)
			switch {
			case tc.wantAsk == nil && ask != nil:
				t.Errorf("asked %v, want no question", ask.Spec.IPFamilies)
			case tc.wantAsk != nil && (ask == nil || !reflect.DeepEqual(ask.Spec.IPFamilies, tc.wantAsk) ||
				*ask.Spec.IPFamilyPolicy != corev1.IPFamilyPolicyPreferDualStack || ask.ResourceVersion != existing.ResourceVersion):
				t.Errorf("asked %+v, want PreferDualStack %v over the existing version", ask, tc.wantAsk)
			}
			change := planServiceChange(md, mainService(md), spec, existing, fams)
			got, obj := "", (*corev1.Service)(nil)
			switch {
			case change.replace != nil && change.update != nil:
				t.Fatalf("both a replacement and an update: %+v", change)
			case change.replace != nil:
				got, obj = "replace", change.replace
			case change.update != nil:
				got, obj = "update", change.update
			}
			if got != tc.wantChange {
				t.Fatalf("change %q, want %q", got, tc.wantChange)
			}
			if obj != nil && !reflect.DeepEqual(obj.Spec.IPFamilies, tc.wantChangeFams) {
				t.Errorf("%s to families %v, want %v", got, obj.Spec.IPFamilies, tc.wantChangeFams)
			}
			if existing.Spec.ClusterIP != "10.96.0.10" || existing.Spec.IPFamilies[0] != v4 {
				t.Errorf("the planner changed its input: %+v", existing.Spec)
			}
		})
	}
}

func TestPlanStatus(t *testing.T) {
	md := newMydemo("web", "10.1.2.3", 80)
	md.Status = computeStatus(md, statusInput{pub: published, endpoints: views(down(fixedNow, "HTTP 500"))}, fixedNow)
	later := fixedNow.Add(time.Minute)
	for name, tc := range map[string]struct {
		in          statusInput
		wordingWait time.Duration
		wantWrite   bool
		wantHold    time.Duration
		wantEvents  []string
	}{
		"unchanged":                 {statusInput{pub: published, endpoints: views(down(fixedNow, "HTTP 500"))}, time.Second, false, 0, nil},
		"wording only, paced":       {statusInput{pub: published, endpoints: views(down(fixedNow, "HTTP 502"))}, 7 * time.Second, true, 7 * time.Second, nil},
		"wording only, pace passed": {statusInput{pub: published, endpoints: views(down(fixedNow, "HTTP 502"))}, 0, true, 0, nil},
		"verdict, paced":            {statusInput{pub: published, endpoints: views(up(later))}, 7 * time.Second, true, 0, []string{ReasonReachable}},
		"conflict": {statusInput{pub: publication{reason: ReasonServiceConflict, message: "x"}, endpoints: views(down(fixedNow, "HTTP 500"))},
			0, true, 0, []string{ReasonServiceConflict}},
	} {
		t.Run(name, func(t *testing.T) {
			p := planStatus(md, tc.in, later, tc.wordingWait)
			if p.write != tc.wantWrite || p.holdFor != tc.wantHold {
				t.Fatalf("write %v hold %v, want %v %v", p.write, p.holdFor, tc.wantWrite, tc.wantHold)
			}
			var reasons []string
			for _, ev := range p.events {
				reasons = append(reasons, ev.reason)
			}
			if !reflect.DeepEqual(reasons, tc.wantEvents) {
				t.Errorf("events %v, want %v", reasons, tc.wantEvents)
			}
			if p.write && p.status.ObservedGeneration != md.Generation {
				t.Errorf("status %+v", p.status)
			}
		})
	}
}

// TestPublicationOf is the table from write results to the Published
// condition, and what each result asks of the queue.
func TestPublicationOf(t *testing.T) {
	invalid := apierrors.NewInvalid(schema.GroupKind{Kind: "Service"}, "web",
		field.ErrorList{field.Invalid(field.NewPath("spec", "ipFamilies").Index(0), "IPv6", "not configured")})
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "services"}, "web", errors.New("RBAC says no"))
	terminating := apierrors.NewForbidden(schema.GroupResource{Resource: "endpointslices"}, "web-ipv4", errors.New("namespace ns is being terminated"))
	terminating.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: corev1.NamespaceTerminatingCause}}
	timeout := apierrors.NewServerTimeout(schema.GroupResource{Resource: "endpointslices"}, "update", 1)
	for name, tc := range map[string]struct {
		a          applied
		wantReason string
		wantIn     string // in the message
		wantNext   syncResult
	}{
		"service foreign, watched": {applied{outcome: foreign, kind: kindService, name: "web", watched: true},
			ReasonServiceConflict, "Service ns/web exists", syncResult{waitWatch: true}},
		"service foreign": {applied{outcome: foreign, kind: kindService, name: "web"},
			ReasonServiceConflict, "Service ns/web exists", syncResult{retry: true}},
		"service old child": {applied{outcome: oldChild, kind: kindService, name: "web"},
			ReasonWaitingForOldChildren, "Service ns/web belongs to a deleted Mydemo", syncResult{retry: true}},
		"service invalid": {failed(kindService, "web", invalid),
			ReasonServiceRejected, "not configured", syncResult{retry: true, err: invalid}},
		"service forbidden": {failed(kindService, "web", forbidden),
			ReasonWriteFailed, "RBAC says no", syncResult{retry: true, err: forbidden}},
		"service in a terminating namespace": {failed(kindService, "web", terminating),
			ReasonWriteFailed, "being terminated", syncResult{retry: true, err: terminating}},
		"slice foreign": {applied{outcome: foreign, kind: kindEndpointSlice, name: "web-ipv4"},
			ReasonEndpointSliceConflict, "EndpointSlice ns/web-ipv4 exists", syncResult{retry: true}},
		"slice old child": {applied{outcome: oldChild, kind: kindEndpointSlice, name: "web-ipv4"},
			ReasonWaitingForOldChildren, "EndpointSlice ns/web-ipv4 belongs", syncResult{retry: true}},
		"slice forbidden": {failed(kindEndpointSlice, "web-ipv4", forbidden),
			ReasonWriteFailed, "RBAC says no", syncResult{retry: true, err: forbidden}},
		"slice in a terminating namespace": {failed(kindEndpointSlice, "web-ipv4", terminating),
			reasonPublishing, "Creating or updating Service ns/web", syncResult{}},
		"slice transient": {failed(kindEndpointSlice, "web-ipv4", timeout),
			reasonPublishing, "Writing EndpointSlice ns/web-ipv4 keeps failing", syncResult{retry: true, err: timeout}},
	} {
		t.Run(name, func(t *testing.T) {
			reason, msg := publicationOf(tc.a, "ns", "web")
			if reason != tc.wantReason || !strings.Contains(msg, tc.wantIn) {
				t.Errorf("publicationOf = %q, %q; want %q containing %q", reason, msg, tc.wantReason, tc.wantIn)
			}
			if next := tc.a.next(); !reflect.DeepEqual(next, tc.wantNext) {
				t.Errorf("next = %+v, want %+v", next, tc.wantNext)
			}
		})
	}
}

func TestPlanEndpointSlices(t *testing.T) {
	md := newMydemo("db", "", 5432, withEndpoints("10.1.0.1", "10.1.0.2", "2001:db8::1"))
	spec := specOf(t, md)
	in := viewOf(md, spec, mainSlots(3), []probe.State{reachable, unreachable, reachable})
	plan, moved := planEndpointSlices(md, spec, in, nil)
	if len(plan.create) != 2 || len(plan.update)+len(plan.delete) != 0 || moved {
		t.Fatalf("first publication: %d creates, %d updates, %d deletes, moved %v", len(plan.create), len(plan.update), len(plan.delete), moved)
	}
	v4 := plan.create[0]
	if v4.AddressType != discoveryv1.AddressTypeIPv4 || len(v4.Endpoints) != 2 || !*v4.Endpoints[0].Conditions.Ready || *v4.Endpoints[1].Conditions.Ready {
		t.Errorf("IPv4 slice %+v", v4)
	}

	// Published, and an endpoint goes down: one update, which moves
	// traffic.
	md.Status = computeStatus(md, statusInput{pub: published, endpoints: in.endpoints}, fixedNow)
	in = viewOf(md, spec, mainSlots(3), []probe.State{unreachable, unreachable, reachable})
	plan, moved = planEndpointSlices(md, spec, in, []*discoveryv1.EndpointSlice{v4, plan.create[1]})
	if len(plan.update) != 1 || len(plan.create)+len(plan.delete) != 0 || !moved {
		t.Errorf("flip: %d creates, %d updates, %d deletes, moved %v", len(plan.create), len(plan.update), len(plan.delete), moved)
	}

	// The cluster serves IPv4 only: the IPv6 endpoint is refused on a copy,
	// and its slice goes.
	spec2, in2 := withServedFamilies(spec, in, []corev1.IPFamily{corev1.IPv4Protocol})
	if in.endpoints[2].refused != "" || spec.endpoints[2].refused != "" {
		t.Fatal("withServedFamilies changed the observation")
	}
	if v := in2.endpoints[2]; v.refusedReason != ReasonFamilyNotServed || v.probed {
		t.Errorf("IPv6 endpoint %+v, want refused and not probed", v)
	}
	plan, _ = planEndpointSlices(md, spec2, in2, []*discoveryv1.EndpointSlice{v4, newEndpointSlice(md, mainService(md), "db-ipv6", discoveryv1.AddressTypeIPv6,
		[]sliceEndpoint{{addr: "2001:db8::1", ready: true}}, spec.ports)})
	if len(plan.delete) != 1 || plan.delete[0].Name != "db-ipv6" {
		t.Errorf("deletes %v, want the IPv6 slice", plan.delete)
	}
}

func TestPlanProbesAndView(t *testing.T) {
	md := newMydemo("db", "", 5432, withEndpoints("10.1.0.1", "127.0.0.1", "10.1.0.2"), func(md *crddemov1.Mydemo) {
		md.Spec.Probe = &crddemov1.Probe{FailOpen: true}
	})
	spec := specOf(t, md)
	targets, probed := planProbes(md, spec, nil)
	if len(targets) != 2 || targets[0].Address != "10.1.0.1:5432" || targets[1].Address != "10.1.0.2:5432" || !reflect.DeepEqual(probed, []probeSlot{{role: -1, endpoint: 0}, {role: -1, endpoint: 2}}) {
		t.Fatalf("targets %+v for endpoints %v, want the two allowed addresses", targets, probed)
	}
	in := viewOf(md, spec, probed, []probe.State{unreachable, unreachable})
	if !in.failOpen || in.endpoints[1].probed || !in.endpoints[2].probed || in.endpoints[2].port != 5432 {
		t.Errorf("view %+v, want fail-open with the refused endpoint not probed", in)
	}
	if in = viewOf(md, spec, probed, []probe.State{unreachable, reachable}); in.failOpen {
		t.Error("fail-open with an endpoint reachable")
	}
	off := newMydemo("db", "10.1.0.1", 5432, probeNone)
	if targets, _ := planProbes(off, specOf(t, off), nil); targets != nil {
		t.Errorf("probe None planned targets %+v", targets)
	}
}

func TestFirstVerdictPending(t *testing.T) {
	md := newMydemo("db", "10.1.0.1", 5432, func(md *crddemov1.Mydemo) { md.Spec.Probe = &crddemov1.Probe{TimeoutSeconds: 2} })
	fresh := statusInput{endpoints: views(probe.State{Since: fixedNow})}
	if w := firstVerdictPending(md, fresh, fixedNow.Add(500*time.Millisecond)); w != 1500*time.Millisecond {
		t.Errorf("wait %v, want the rest of the 2s probe timeout", w)
	}
	if w := firstVerdictPending(md, fresh, fixedNow.Add(3*time.Second)); w != 0 {
		t.Errorf("wait %v after the timeout, want 0", w)
	}
	if w := firstVerdictPending(md, statusInput{endpoints: views(reachable)}, fixedNow); w != 0 {
		t.Errorf("wait %v with a verdict, want 0", w)
	}
}

func TestTerminatingSlices(t *testing.T) {
	md := newMydemo("db", "10.1.0.1", 5432)
	live := newEndpointSlice(md, mainService(md), "db-ipv4", discoveryv1.AddressTypeIPv4, []sliceEndpoint{{addr: "10.1.0.1", ready: true}, {addr: "10.1.0.2"}}, []servicePort{{port: 5432, protocol: corev1.ProtocolTCP}})
	updates := terminatingSlices([]*discoveryv1.EndpointSlice{live})
	if len(updates) != 1 || !*live.Endpoints[0].Conditions.Ready {
		t.Fatalf("updates %v (the input must not change)", updates)
	}
	for _, ep := range updates[0].Endpoints {
		if *ep.Conditions.Ready || !*ep.Conditions.Terminating {
			t.Errorf("endpoint %v: %+v, want not ready and terminating", ep.Addresses, ep.Conditions)
		}
	}
	if again := terminatingSlices(updates); len(again) != 0 {
		t.Errorf("terminating slices planned again: %v", again)
	}
}

// mainSlots are the probe slots of the Mydemo's own probe on endpoints 0
// to n-1.
func mainSlots(n int) []probeSlot {
	out := make([]probeSlot, n)
	for i := range out {
		out[i] = probeSlot{role: -1, endpoint: i}
	}
	return out
}
