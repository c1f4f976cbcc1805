package controller

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/probe"
	"github.com/crddemo/crddemo/pkg/resolve"
)

var (
	reachable   = probe.State{Reachability: probe.Reachable}
	unreachable = probe.State{Reachability: probe.Unreachable, Message: "connection refused"}
)

func TestSyncCreatesServiceSliceAndStatus(t *testing.T) {
	md := newMydemo("db", "10.1.2.3", 5432, probeNone)
	key := cache.MetaObjectToName(md)
	f := newFixture(t, []*crddemov1.Mydemo{md}, nil, nil)

	if r := f.sync(key); r.retry {
		t.Fatalf("sync: %+v", r)
	}
	f.expectActions(
		[]string{"create services", "create endpointslices"},
		[]string{"update mydemos/status"},
	)
	f.expectEvents("Normal Published")

	svc := f.storedService(key)
	if svc.Spec.Selector != nil || svc.Spec.Type != corev1.ServiceTypeClusterIP ||
		svc.Spec.Ports[0].Port != 5432 || svc.Spec.IPFamilies[0] != corev1.IPv4Protocol ||
		!metav1.IsControlledBy(svc, md) || svc.Labels[LabelManagedBy] != ManagedBy {
		t.Errorf("unexpected Service: %+v", svc)
	}
	slice := f.storedSlice("ns", "db-ipv4")
	ep := slice.Endpoints[0]
	if slice.AddressType != discoveryv1.AddressTypeIPv4 || ep.Addresses[0] != "10.1.2.3" ||
		!*ep.Conditions.Ready || !*ep.Conditions.Serving || *ep.Conditions.Terminating ||
		slice.Labels[discoveryv1.LabelServiceName] != "db" ||
		slice.Labels[discoveryv1.LabelManagedBy] != EndpointSliceManagedBy || !metav1.IsControlledBy(slice, md) {
		t.Errorf("unexpected EndpointSlice: %+v", slice)
	}
	status := f.storedMydemo(key).Status
	if status.ObservedGeneration != 1 || status.ServiceName != "db" {
		t.Errorf("unexpected status: %+v", status)
	}
	for condType, want := range map[string]metav1.ConditionStatus{
		crddemov1.ConditionPublished: metav1.ConditionTrue,
		crddemov1.ConditionReachable: metav1.ConditionUnknown,
		crddemov1.ConditionReady:     metav1.ConditionTrue,
	} {
		if c := meta.FindStatusCondition(status.Conditions, condType); c == nil || c.Status != want {
			t.Errorf("condition %s = %+v, want %s", condType, c, want)
		}
	}
	if len(f.prober.targets) != 0 {
		t.Errorf("probe None must not be probed, got targets %v", f.prober.targets)
	}
}

func TestSyncConvergedWritesNothing(t *testing.T) {
	for name, tc := range map[string]struct {
		md    *crddemov1.Mydemo
		state probe.State
	}{
		"probe none":  {newMydemo("a", "10.1.2.3", 80, probeNone), probe.State{}},
		"reachable":   {newMydemo("b", "10.1.2.4", 80), reachable},
		"unreachable": {newMydemo("c", "10.1.2.5", 80), unreachable},
		"ipv6 udp": {newMydemo("d", "2001:db8::5", 53, func(md *crddemov1.Mydemo) {
			md.Spec.Protocol = crddemov1.ProtocolUDP
		}), probe.State{}},
	} {
		t.Run(name, func(t *testing.T) {
			stored, children := converge(t, tc.md, tc.state)
			f := newFixture(t, []*crddemov1.Mydemo{stored}, children, nil)
			key := cache.MetaObjectToName(stored)
			f.prober.states[f.addr(key)] = tc.state
			if r := f.sync(key); r.retry {
				t.Fatalf("sync: %+v", r)
			}
			f.expectActions(nil, nil)
			f.expectEvents()
		})
	}
}

func TestSyncUpdates(t *testing.T) {
	base := newMydemo("web", "10.1.2.3", 8080, probeNone)
	stored, children := converge(t, base, probe.State{})

	for name, tc := range map[string]struct {
		mutate    func(*crddemov1.Mydemo)
		dualStack bool
		wantKube  []string
		checkKube func(t *testing.T, f *fixture)
	}{
		"port": {
			mutate:   func(md *crddemov1.Mydemo) { md.Spec.Port = 9090 },
			wantKube: []string{"update services", "update endpointslices"},
			checkKube: func(t *testing.T, f *fixture) {
				if p := f.storedService(cache.ObjectName{Namespace: "ns", Name: "web"}).Spec.Ports[0].Port; p != 9090 {
					t.Errorf("service port %d", p)
				}
				if p := *f.storedSlice("ns", "web-ipv4").Ports[0].Port; p != 9090 {
					t.Errorf("slice port %d", p)
				}
			},
		},
		"protocol": {
			mutate:   func(md *crddemov1.Mydemo) { md.Spec.Protocol = crddemov1.ProtocolUDP; md.Spec.Probe = nil },
			wantKube: []string{"update services", "update endpointslices"},
			checkKube: func(t *testing.T, f *fixture) {
				if p := f.storedService(cache.ObjectName{Namespace: "ns", Name: "web"}).Spec.Ports[0].Protocol; p != corev1.ProtocolUDP {
					t.Errorf("service protocol %s", p)
				}
			},
		},
		"address in same family": {
			mutate:   func(md *crddemov1.Mydemo) { md.Spec.IP = "10.9.9.9" },
			wantKube: []string{"update endpointslices"},
			checkKube: func(t *testing.T, f *fixture) {
				if a := f.storedSlice("ns", "web-ipv4").Endpoints[0].Addresses[0]; a != "10.9.9.9" {
					t.Errorf("slice address %s", a)
				}
			},
		},
		"ip family": {
			// The Service's primary family is immutable: once the
			// cluster shows it serves IPv6 (the Service asked for both
			// families got both), one sync replaces it and moves the
			// endpoint to an IPv6 slice.
			mutate:    func(md *crddemov1.Mydemo) { md.Spec.IP = "2001:db8::1" },
			dualStack: true,
			wantKube:  []string{"update services", "delete services", "create services", "create endpointslices", "delete endpointslices"},
			checkKube: func(t *testing.T, f *fixture) {
				if at := f.storedSlice("ns", "web-ipv6").AddressType; at != discoveryv1.AddressTypeIPv6 {
					t.Errorf("addressType %s", at)
				}
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			md := stored.DeepCopy()
			tc.mutate(md)
			md.Generation++
			f := newFixture(t, []*crddemov1.Mydemo{md}, children, nil)
			if tc.dualStack {
				f.dualStack()
			}
			key := cache.MetaObjectToName(md)
			if r := f.sync(key); r.retry {
				t.Fatalf("sync: %+v", r)
			}
			f.expectActions(tc.wantKube, []string{"update mydemos/status"})
			if got := f.storedMydemo(key).Status.ObservedGeneration; got != 2 {
				t.Errorf("observedGeneration = %d, want 2", got)
			}
			if tc.checkKube != nil {
				tc.checkKube(t, f)
			}
		})
	}
}

func foreignService(name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, ResourceVersion: "7"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "other"},
			Ports:    []corev1.ServicePort{{Port: 1234}},
		},
	}
}

func TestSyncServiceConflict(t *testing.T) {
	md := newMydemo("web", "10.1.2.3", 8080, probeNone)
	key := cache.MetaObjectToName(md)
	foreign := foreignService("web")
	f := newFixture(t, []*crddemov1.Mydemo{md}, nil, []runtime.Object{foreign})

	if r := f.sync(key); !r.retry || r.err != nil {
		t.Fatalf("want a retry without an error, got %+v", r)
	}
	f.expectActions([]string{"create services", "get services"}, []string{"update mydemos/status"})
	f.expectEvents("Warning ServiceConflict")
	cond := meta.FindStatusCondition(f.storedMydemo(key).Status.Conditions, crddemov1.ConditionPublished)
	if cond == nil || cond.Status != metav1.ConditionFalse || cond.Reason != ReasonServiceConflict {
		t.Fatalf("Published = %+v", cond)
	}
	if svc := f.storedService(key); svc.ResourceVersion != "7" || svc.Spec.Selector["app"] != "other" {
		t.Errorf("foreign Service was modified: %+v", svc)
	}

	// A retry (no watch on the foreign Service: the controller is not
	// running) judges it again and writes nothing: no status update, no
	// second Event.
	f2 := newFixture(t, []*crddemov1.Mydemo{f.storedMydemo(key)}, nil, []runtime.Object{foreign})
	if r := f2.sync(key); !r.retry || r.err != nil {
		t.Fatalf("want a retry without an error, got %+v", r)
	}
	f2.expectActions([]string{"create services", "get services"}, nil)
	f2.expectEvents()

	// Once it is gone the Mydemo is published, with a ConflictResolved Event.
	f3 := newFixture(t, []*crddemov1.Mydemo{f.storedMydemo(key)}, nil, nil)
	if r := f3.sync(key); r.retry {
		t.Fatalf("sync: %+v", r)
	}
	f3.expectActions([]string{"create services", "create endpointslices"}, []string{"update mydemos/status"})
	f3.expectEvents("Normal ConflictResolved")
}

func TestSyncServiceControlledByAnotherMydemo(t *testing.T) {
	// A Service with our labels that belongs to an earlier Mydemo of the
	// same name (different UID) is not adopted either: it is waiting for
	// garbage collection, which is expected and not worth a Warning.
	old := newMydemo("web", "10.1.2.3", 8080, probeNone)
	_, children := converge(t, old, probe.State{})
	md := newMydemo("web", "10.1.2.3", 8080, probeNone, func(md *crddemov1.Mydemo) { md.UID = "uid-new" })
	f := newFixture(t, []*crddemov1.Mydemo{md}, children, nil)
	if r := f.sync(cache.MetaObjectToName(md)); !r.retry || r.err != nil {
		t.Fatalf("want a retry without an error, got %+v", r)
	}
	f.expectActions(nil, []string{"update mydemos/status"})
	f.expectEvents()
	cond := meta.FindStatusCondition(f.storedMydemo(cache.MetaObjectToName(md)).Status.Conditions, crddemov1.ConditionPublished)
	if cond.Reason != ReasonWaitingForOldChildren {
		t.Errorf("Published = %+v", cond)
	}
}

func TestSyncEndpointSliceConflict(t *testing.T) {
	md := newMydemo("web", "10.1.2.3", 8080, probeNone)
	key := cache.MetaObjectToName(md)
	foreign := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "ns", Name: "web-ipv4"},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	f := newFixture(t, []*crddemov1.Mydemo{md}, nil, []runtime.Object{foreign})
	if r := f.sync(key); !r.retry || r.err != nil {
		t.Fatalf("want a retry without an error, got %+v", r)
	}
	f.expectActions(
		[]string{"create services", "create endpointslices", "get endpointslices"},
		[]string{"update mydemos/status"},
	)
	f.expectEvents("Warning EndpointSliceConflict")
	if got := f.storedSlice("ns", "web-ipv4"); len(got.Endpoints) != 0 {
		t.Errorf("foreign EndpointSlice was modified: %+v", got)
	}

	// The retry judges the foreign slice again and writes nothing.
	f2 := newFixture(t, []*crddemov1.Mydemo{f.storedMydemo(key)}, []runtime.Object{f.storedService(key)}, []runtime.Object{foreign})
	if r := f2.sync(key); !r.retry || r.err != nil {
		t.Fatalf("want a retry without an error, got %+v", r)
	}
	f2.expectActions([]string{"create endpointslices", "get endpointslices"}, nil)
}

func TestSyncRevertsTampering(t *testing.T) {
	stored, children := converge(t, newMydemo("web", "10.1.2.3", 8080), reachable)
	key := cache.MetaObjectToName(stored)

	for name, tamper := range map[string]func(svc *corev1.Service, slice *discoveryv1.EndpointSlice) []string{
		"slice marked not ready": func(_ *corev1.Service, slice *discoveryv1.EndpointSlice) []string {
			slice.Endpoints[0].Conditions.Ready = ptr.To(false)
			return []string{"update endpointslices"}
		},
		"slice address": func(_ *corev1.Service, slice *discoveryv1.EndpointSlice) []string {
			slice.Endpoints[0].Addresses = []string{"10.6.6.6"}
			return []string{"update endpointslices"}
		},
		"service selector added": func(svc *corev1.Service, _ *discoveryv1.EndpointSlice) []string {
			svc.Spec.Selector = map[string]string{"app": "x"}
			return []string{"update services"}
		},
		"service port": func(svc *corev1.Service, _ *discoveryv1.EndpointSlice) []string {
			svc.Spec.Ports[0].Port = 1
			return []string{"update services"}
		},
	} {
		t.Run(name, func(t *testing.T) {
			svc := children[0].(*corev1.Service).DeepCopy()
			slice := children[1].(*discoveryv1.EndpointSlice).DeepCopy()
			want := tamper(svc, slice)
			f := newFixture(t, []*crddemov1.Mydemo{stored}, []runtime.Object{svc, slice}, nil)
			f.prober.states[f.addr(key)] = reachable
			if r := f.sync(key); r.retry {
				t.Fatalf("sync: %+v", r)
			}
			f.expectActions(want, nil)
			f.expectEvents()
			if s := f.storedSlice("ns", "web-ipv4"); !*s.Endpoints[0].Conditions.Ready || s.Endpoints[0].Addresses[0] != "10.1.2.3" {
				t.Errorf("slice not reverted: %+v", s.Endpoints[0])
			}
		})
	}
}

func TestSyncProbeTransition(t *testing.T) {
	stored, children := converge(t, newMydemo("web", "10.1.2.3", 8080), reachable)
	key := cache.MetaObjectToName(stored)

	f := newFixture(t, []*crddemov1.Mydemo{stored}, children, nil)
	f.prober.states[f.addr(key)] = unreachable
	if r := f.sync(key); r.retry {
		t.Fatalf("sync: %+v", r)
	}
	f.expectActions([]string{"update endpointslices"}, []string{"update mydemos/status"})
	f.expectEvents("Warning Unreachable")
	if ready := *f.storedSlice("ns", "web-ipv4").Endpoints[0].Conditions.Ready; ready {
		t.Error("endpoint still ready")
	}
	down := f.storedMydemo(key)
	reach := meta.FindStatusCondition(down.Status.Conditions, crddemov1.ConditionReachable)
	if reach.Status != metav1.ConditionFalse || !strings.Contains(reach.Message, "10.1.2.3:8080: connection refused") {
		t.Errorf("Reachable = %+v", reach)
	}
	if ready := meta.FindStatusCondition(down.Status.Conditions, crddemov1.ConditionReady); ready.Status != metav1.ConditionFalse {
		t.Errorf("Ready = %+v", ready)
	}
	target := f.prober.targets[key][0]
	if target.Address != "10.1.2.3:8080" || target.Period.Seconds() != 10 || target.FailureThreshold != 3 {
		t.Errorf("probe target = %+v", target)
	}
}

func TestSyncDeletedMydemoStopsProbing(t *testing.T) {
	f := newFixture(t, nil, nil, nil)
	key := cache.ObjectName{Namespace: "ns", Name: "gone"}
	f.prober.targets[key] = []probe.Target{{Address: "10.1.2.3:80"}}
	if r := f.sync(key); r.retry {
		t.Fatalf("sync: %+v", r)
	}
	f.expectActions(nil, nil)
	if _, ok := f.prober.targets[key]; ok || len(f.prober.forgotten) != 1 {
		t.Errorf("probe not forgotten: %v", f.prober.forgotten)
	}
}

func TestSyncRejectedService(t *testing.T) {
	md := newMydemo("v6", "2001:db8::1", 80, probeNone)
	key := cache.MetaObjectToName(md)
	f := newFixture(t, []*crddemov1.Mydemo{md}, nil, nil)
	f.kubeClient.PrependReactor("create", "services", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewInvalid(schema.GroupKind{Kind: "Service"}, "v6",
			field.ErrorList{field.Invalid(field.NewPath("spec", "ipFamilies").Index(0), "IPv6", "not configured on this cluster")})
	})
	// Retried with backoff: the cluster may gain an IPv6 range.
	if r := f.sync(key); !r.retry || r.err == nil {
		t.Fatalf("want a reported error to retry with backoff, got %+v", r)
	}
	f.expectActions([]string{"create services"}, []string{"update mydemos/status"})
	f.expectEvents("Warning ServiceRejected")
	cond := meta.FindStatusCondition(f.storedMydemo(key).Status.Conditions, crddemov1.ConditionPublished)
	if cond.Reason != ReasonServiceRejected || !strings.Contains(cond.Message, "not configured on this cluster") {
		t.Errorf("Published = %+v", cond)
	}
}

func TestSyncRestartSeedsProbeAndWritesNothing(t *testing.T) {
	for name, state := range map[string]probe.State{"reachable": reachable, "unreachable": unreachable} {
		t.Run(name, func(t *testing.T) {
			stored, children := converge(t, newMydemo("db", "10.1.2.3", 5432), state)
			// A new process: its prober knows nothing about the key.
			f := newFixture(t, []*crddemov1.Mydemo{stored}, children, nil)
			key := cache.MetaObjectToName(stored)
			if r := f.sync(key); r.retry {
				t.Fatalf("sync: %+v", r)
			}
			f.expectActions(nil, nil)
			f.expectEvents()
			if len(f.prober.seeded) != 1 || f.prober.states[f.addr(key)].Reachability != state.Reachability ||
				f.prober.states[f.addr(key)].Message != state.Message {
				t.Errorf("prober seeded with %+v, want %+v", f.prober.states[f.addr(key)], state)
			}
		})
	}
}

func TestSyncDoesNotSeedAfterSpecChange(t *testing.T) {
	stored, children := converge(t, newMydemo("db", "10.1.2.3", 5432), reachable)
	md := stored.DeepCopy()
	md.Spec.Port = 6543
	md.Generation++
	f := newFixture(t, []*crddemov1.Mydemo{md}, children, nil)
	if r := f.sync(cache.MetaObjectToName(md)); r.retry {
		t.Fatalf("sync: %+v", r)
	}
	if len(f.prober.seeded) != 0 {
		t.Errorf("seeded from a verdict about the old spec")
	}
}

func TestSyncTransientErrorKeepsStatus(t *testing.T) {
	stored, children := converge(t, newMydemo("web", "10.1.2.3", 8080), reachable)
	key := cache.MetaObjectToName(stored)
	for name, failure := range map[string]error{
		"conflict": apierrors.NewConflict(schema.GroupResource{Group: "discovery.k8s.io", Resource: "endpointslices"}, "web-ipv4", errors.New("stale")),
		"server":   apierrors.NewInternalError(errors.New("etcd timeout")),
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, []*crddemov1.Mydemo{stored}, children, nil)
			f.prober.states[f.addr(key)] = unreachable // the slice must be updated
			f.kubeClient.PrependReactor("update", "endpointslices", func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, failure
			})
			if r := f.sync(key); !r.retry || r.err == nil {
				t.Fatalf("want the error, to retry: %+v", r)
			}
			// No status write: Published stays True, no Event.
			f.expectActions([]string{"update endpointslices"}, nil)
			f.expectEvents()
		})
	}
}

func TestSyncLastingErrorShowsInStatus(t *testing.T) {
	md := newMydemo("web", "10.1.2.3", 8080, probeNone)
	key := cache.MetaObjectToName(md)
	f := newFixture(t, []*crddemov1.Mydemo{md}, nil, nil)
	f.kubeClient.PrependReactor("create", "services", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "services"}, "web", errors.New("RBAC says no"))
	})
	if r := f.sync(key); !r.retry || r.err == nil {
		t.Fatalf("want the error, to retry: %+v", r)
	}
	f.expectActions([]string{"create services"}, []string{"update mydemos/status"})
	cond := meta.FindStatusCondition(f.storedMydemo(key).Status.Conditions, crddemov1.ConditionPublished)
	if cond.Status != metav1.ConditionFalse || cond.Reason != ReasonWriteFailed || !strings.Contains(cond.Message, "RBAC says no") {
		t.Errorf("Published = %+v", cond)
	}
}

// TestSyncBeforeCacheCatchesUp: the sync right after a write usually runs
// on caches that do not show the write yet; it must not repeat it.
func TestSyncBeforeCacheCatchesUp(t *testing.T) {
	md := newMydemo("web", "10.1.2.3", 8080)
	key := cache.MetaObjectToName(md)
	f := newFixture(t, []*crddemov1.Mydemo{md}, nil, nil)
	f.prober.states[f.addr(key)] = reachable
	if r := f.sync(key); r.retry {
		t.Fatalf("sync: %+v", r)
	}
	f.expectActions([]string{"create services", "create endpointslices"}, []string{"update mydemos/status"})
	// The fixture's caches never change: the second sync sees none of it.
	if r := f.sync(key); r.retry {
		t.Fatalf("sync: %+v", r)
	}
	f.expectActions(nil, nil)

	// A probe transition before the caches caught up updates from our own
	// last writes, with their resourceVersions: no conflict.
	f.prober.states[f.addr(key)] = unreachable
	if r := f.sync(key); r.retry {
		t.Fatalf("sync: %+v", r)
	}
	f.expectActions([]string{"update endpointslices"}, []string{"update mydemos/status"})

	// Once an informer delivers an object, the cache wins again.
	f.controller.addChild(f.storedService(key))
	f.controller.updateMydemo(md, f.storedMydemo(key))
	f.controller.addChild(f.storedSlice("ns", "web-ipv4"))
	if n := f.controller.recent.len(); n != 0 {
		t.Errorf("%d remembered writes after the informers caught up", n)
	}
}

// TestSyncConflictDetachesSlices: when a foreign Service takes the name of
// a published Mydemo, the Mydemo's slices are deleted in the same sync, so
// they never feed traffic of a Service we do not control.
func TestSyncConflictDetachesSlices(t *testing.T) {
	stored, children := converge(t, newMydemo("web", "10.1.2.3", 8080), reachable)
	key := cache.MetaObjectToName(stored)
	foreign := foreignService("web")
	// Our Service is gone from the cache; the slice is still there.
	f := newFixture(t, []*crddemov1.Mydemo{stored}, children[1:], []runtime.Object{foreign})
	f.prober.states[f.addr(key)] = reachable
	if r := f.sync(key); !r.retry || r.err != nil {
		t.Fatalf("want a retry without an error, got %+v", r)
	}
	f.expectActions([]string{"create services", "get services", "delete endpointslices"}, []string{"update mydemos/status"})
	f.expectEvents("Warning ServiceConflict")
	st := f.storedMydemo(key).Status
	if st.ServiceName != "" || meta.IsStatusConditionTrue(st.Conditions, crddemov1.ConditionReady) {
		t.Errorf("status still names the foreign Service or says Ready: %+v", st)
	}
}

// TestSyncManyEndpoints: ports, hostnames and dual-stack in one Mydemo.
func TestSyncManyEndpoints(t *testing.T) {
	md := newMydemo("db", "", 0, func(md *crddemov1.Mydemo) {
		md.Spec.IP, md.Spec.Port = "", 0
		md.Spec.Endpoints = []crddemov1.Endpoint{{IP: "10.1.0.1", Zone: "a"}, {Hostname: "db.test"}, {IP: "2001:db8::1"}}
		md.Spec.Ports = []crddemov1.Port{{Name: "sql", Port: 5432, Protocol: crddemov1.ProtocolTCP}, {Name: "metrics", Port: 9187, Protocol: crddemov1.ProtocolTCP}}
	})
	key := cache.MetaObjectToName(md)
	f := newFixture(t, []*crddemov1.Mydemo{md}, nil, nil)
	f.dualStack()
	f.resolver.answers["db.test"] = resolve.Answer{Resolved: true, Addrs: []netip.Addr{netip.MustParseAddr("10.1.0.2"), netip.MustParseAddr("127.0.0.1")}}
	f.prober.states["10.1.0.1:5432"] = reachable
	f.prober.states["10.1.0.2:5432"] = unreachable
	f.prober.states["[2001:db8::1]:5432"] = reachable
	if r := f.sync(key); r.retry {
		t.Fatalf("sync: %+v", r)
	}
	f.expectActions([]string{"create services", "create endpointslices", "create endpointslices"}, []string{"update mydemos/status"})
	svc := f.storedService(key)
	if len(svc.Spec.IPFamilies) != 2 || *svc.Spec.IPFamilyPolicy != corev1.IPFamilyPolicyPreferDualStack || len(svc.Spec.Ports) != 2 || svc.Spec.Ports[1].Name != "metrics" {
		t.Errorf("Service %+v", svc.Spec)
	}
	v4 := f.storedSlice("ns", "db-ipv4")
	if len(v4.Endpoints) != 2 || *v4.Endpoints[0].Zone != "a" || *v4.Endpoints[1].Conditions.Ready || len(v4.Ports) != 2 || *v4.Ports[0].Name != "sql" {
		t.Errorf("IPv4 slice %+v", v4)
	}
	st := f.storedMydemo(key).Status
	if st.EndpointsReady != "2/4" || st.TotalEndpoints != 4 || len(st.Endpoints) != 4 {
		t.Fatalf("status totals %q, %d endpoints", st.EndpointsReady, len(st.Endpoints))
	}
	lo := st.Endpoints[2]
	if lo.Address != "127.0.0.1" || lo.Published || lo.Hostname != "db.test" || !strings.Contains(lo.Message, "loopback") {
		t.Errorf("loopback answer: %+v", lo)
	}
	if ready := meta.FindStatusCondition(st.Conditions, crddemov1.ConditionReady); ready.Status != metav1.ConditionTrue || ready.Reason != reasonPartiallyReady {
		t.Errorf("Ready = %+v", ready)
	}
	for _, tgt := range f.prober.targets[key] {
		if strings.HasPrefix(tgt.Address, "127.") {
			t.Errorf("a refused address is probed: %v", tgt.Address)
		}
	}
}

// TestSyncKeepsForeignServiceFields: repairing the Service keeps what
// others set on it: annotations and a port's appProtocol.
func TestSyncKeepsForeignServiceFields(t *testing.T) {
	stored, children := converge(t, newMydemo("web", "10.1.2.3", 8080, probeNone), probe.State{})
	key := cache.MetaObjectToName(stored)
	svc := children[0].(*corev1.Service).DeepCopy()
	svc.Annotations = map[string]string{"example.com/team": "payments"}
	svc.Spec.Ports[0].AppProtocol = ptr.To("http")
	delete(svc.Labels, LabelMydemo) // something we own, to repair
	f := newFixture(t, []*crddemov1.Mydemo{stored}, []runtime.Object{svc, children[1]}, nil)
	if r := f.sync(key); r.retry {
		t.Fatalf("sync: %+v", r)
	}
	f.expectActions([]string{"update services"}, nil)
	got := f.storedService(key)
	if got.Labels[LabelMydemo] != "web" || got.Annotations["example.com/team"] != "payments" ||
		got.Spec.Ports[0].AppProtocol == nil || *got.Spec.Ports[0].AppProtocol != "http" {
		t.Errorf("repaired Service lost foreign fields: labels %v annotations %v ports %+v", got.Labels, got.Annotations, got.Spec.Ports)
	}
}

// TestOwnerMatchesGroupAndKind: a controller reference written for another
// version of the API still names its Mydemo.
func TestOwnerMatchesGroupAndKind(t *testing.T) {
	md := newMydemo("web", "10.1.2.3", 80)
	obj := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", OwnerReferences: []metav1.OwnerReference{{
		APIVersion: "crddemo.k8s.io/v2", Kind: "Mydemo", Name: "web", UID: md.UID, Controller: ptr.To(true),
	}}}}
	if !isControlledBy(obj, md) {
		t.Error("a v2 reference is not recognised")
	}
	obj.OwnerReferences[0].APIVersion = "other.example.com/v1"
	if isControlledBy(obj, md) {
		t.Error("a Mydemo kind of another group is taken for ours")
	}
}

// TestSyncCapsHostnameAnswers: a name answering with more addresses than a
// Mydemo may have endpoints is cut at the limit, and the status says so.
func TestSyncCapsHostnameAnswers(t *testing.T) {
	md := newMydemo("wide", "", 80, func(md *crddemov1.Mydemo) {
		md.Spec.IP = ""
		md.Spec.Endpoints = []crddemov1.Endpoint{{Hostname: "wide.test"}}
		md.Spec.Probe = &crddemov1.Probe{Type: crddemov1.ProbeTypeNone}
	})
	key := cache.MetaObjectToName(md)
	f := newFixture(t, []*crddemov1.Mydemo{md}, nil, nil)
	var addrs []netip.Addr
	for i := range maxEndpoints + 200 {
		addrs = append(addrs, netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)}))
	}
	f.resolver.answers["wide.test"] = resolve.Answer{Resolved: true, Addrs: addrs}
	if r := f.sync(key); r.retry {
		t.Fatalf("sync: %+v", r)
	}
	st := f.storedMydemo(key).Status
	if st.TotalEndpoints != maxEndpoints || !strings.Contains(st.Hostnames[0].Message, "200 addresses") {
		t.Errorf("%d endpoints, hostname status %+v", st.TotalEndpoints, st.Hostnames)
	}
}

// While other Mydemos are queued, a sync that moves traffic (an endpoint
// of a published Mydemo goes not ready) leaves its status for later, but a
// first publication writes its status at once: it moves no traffic away
// from anything, and its status goes through the other client.
func TestSyncDefersStatusOnlyWhenTrafficMoves(t *testing.T) {
	other := cache.ObjectName{Namespace: "ns", Name: "other"}

	md := newMydemo("db", "10.1.2.3", 5432, probeNone)
	key := cache.MetaObjectToName(md)
	f := newFixture(t, []*crddemov1.Mydemo{md}, nil, nil)
	f.controller.queue.Add(other)
	if r := f.sync(key); r.retry {
		t.Fatalf("sync: %+v", r)
	}
	f.expectActions(
		[]string{"create services", "create endpointslices"},
		[]string{"update mydemos/status"},
	)

	stored, children := converge(t, newMydemo("web", "10.1.2.4", 8080), reachable)
	key = cache.MetaObjectToName(stored)
	f = newFixture(t, []*crddemov1.Mydemo{stored}, children, nil)
	f.controller.queue.Add(other)
	f.prober.states[f.addr(key)] = unreachable
	if r := f.sync(key); r.retry {
		t.Fatalf("sync: %+v", r)
	}
	f.expectActions([]string{"update endpointslices"}, nil)
	f.expectEvents()

	// Once the queue has drained, the waiting status is written.
	f.controller.queue.Get()
	f.controller.queue.Done(other)
	if got := f.controller.statusDeferrals.release(f.controller.queue.Len()); len(got) != 1 || got[0] != key {
		t.Fatalf("released %v, want [%v]", got, key)
	}
	if r := f.sync(key); r.retry {
		t.Fatalf("sync: %+v", r)
	}
	f.expectActions(nil, []string{"update mydemos/status"})
	f.expectEvents("Warning Unreachable")

	// A published Mydemo whose slice is gone moves traffic when the slice
	// comes back: its status waits too.
	stored, children = converge(t, newMydemo("api", "10.1.2.5", 8080), reachable)
	key = cache.MetaObjectToName(stored)
	var services []runtime.Object
	for _, o := range children {
		if _, ok := o.(*corev1.Service); ok {
			services = append(services, o)
		}
	}
	f = newFixture(t, []*crddemov1.Mydemo{stored}, services, nil)
	f.controller.queue.Add(other)
	f.prober.states[f.addr(key)] = unreachable
	if r := f.sync(key); r.retry {
		t.Fatalf("sync: %+v", r)
	}
	f.expectActions([]string{"create endpointslices"}, nil)
}

// TestSyncRestartMidOutageKeepsSliceNotReady: a process killed after it
// wrote a slice not ready but before its deferred status followed leaves a
// status that says reachable. The next process starts from the more
// pessimistic record: the endpoint stays not ready, and only the status is
// written, to say so.
func TestSyncRestartMidOutageKeepsSliceNotReady(t *testing.T) {
	stored, children := converge(t, newMydemo("db", "10.1.2.3", 5432), reachable)
	// The same endpoint written not ready, as the killed process did.
	_, down := converge(t, newMydemo("db", "10.1.2.3", 5432), unreachable)
	children[1] = down[1]
	f := newFixture(t, []*crddemov1.Mydemo{stored}, children, nil)
	key := cache.MetaObjectToName(stored)
	if r := f.sync(key); r.retry {
		t.Fatalf("sync: %+v", r)
	}
	f.expectActions(nil, []string{"update mydemos/status"})
	if s := f.prober.states[f.addr(key)]; s.Reachability != probe.Unreachable {
		t.Fatalf("prober seeded with %+v, want Unreachable", s)
	}
	if ep := f.storedMydemo(key).Status.Endpoints[0]; ep.Ready || ep.Probe != crddemov1.ProbeUnreachable {
		t.Errorf("status endpoint %+v, want not ready and Unreachable", ep)
	}
}

func TestRecordedVerdictsSeed(t *testing.T) {
	addr := netip.MustParseAddr("10.1.2.3")
	since := metav1.NewTime(fixedNow.Add(-time.Hour))
	status := func(verdict string) *crddemov1.Mydemo {
		md := newMydemo("db", addr.String(), 5432)
		md.Status.ObservedGeneration = md.Generation
		md.Status.Endpoints = []crddemov1.EndpointStatus{{Address: addr.String(), Probe: verdict, Message: "connection refused", LastTransitionTime: &since}}
		return md
	}
	slice := func(ready bool) []*discoveryv1.EndpointSlice {
		return []*discoveryv1.EndpointSlice{{Endpoints: []discoveryv1.Endpoint{{Addresses: []string{addr.String()}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}}}}
	}
	for _, tc := range []struct {
		name   string
		md     *crddemov1.Mydemo
		slices []*discoveryv1.EndpointSlice
		want   probe.State
	}{
		{"reachable, slice ready", status(crddemov1.ProbeReachable), slice(true), probe.State{Reachability: probe.Reachable, Since: since.Time}},
		{"reachable, no slice yet", status(crddemov1.ProbeReachable), nil, probe.State{Reachability: probe.Reachable, Since: since.Time}},
		{"reachable, slice not ready", status(crddemov1.ProbeReachable), slice(false), probe.State{Reachability: probe.Unreachable, Message: msgSeededNotReady}},
		{"unreachable, slice ready", status(crddemov1.ProbeUnreachable), slice(true), probe.State{Reachability: probe.Unreachable, Message: "connection refused", Since: since.Time}},
		{"unknown, slice not ready", status(crddemov1.ProbeUnknown), slice(false), probe.State{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := recordedVerdictsOf(tc.md, tc.slices, true).seed(addr)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("seed = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestSyncFamilyNotServed: on a single-stack IPv4 cluster an endpoint of
// the other family is refused on its own, and the IPv4 endpoints keep
// their Service and slice: a new Mydemo whose first endpoint is IPv6, and
// a published one whose hostname gains an AAAA record.
func TestSyncFamilyNotServed(t *testing.T) {
	t.Run("new Mydemo, IPv6 first", func(t *testing.T) {
		md := newMydemo("db", "", 5432, func(md *crddemov1.Mydemo) {
			md.Spec.IP = ""
			md.Spec.Endpoints = []crddemov1.Endpoint{{IP: "2001:db8::1"}, {IP: "10.1.0.1"}}
		})
		key := cache.MetaObjectToName(md)
		f := newFixture(t, []*crddemov1.Mydemo{md}, nil, nil)
		// The API server of an IPv4 cluster refuses an IPv6 Service.
		f.kubeClient.PrependReactor("create", "services", func(action k8stesting.Action) (bool, runtime.Object, error) {
			svc := action.(k8stesting.CreateAction).GetObject().(*corev1.Service)
			if svc.Spec.IPFamilies[0] != corev1.IPv6Protocol {
				return false, nil, nil
			}
			return true, nil, apierrors.NewInvalid(schema.GroupKind{Kind: "Service"}, svc.Name, field.ErrorList{
				field.Invalid(field.NewPath("spec", "ipFamilies").Index(0), "IPv6", "not configured on this cluster")})
		})
		f.prober.states["10.1.0.1:5432"] = reachable
		if r := f.sync(key); r.retry {
			t.Fatalf("sync: %+v", r)
		}
		f.expectActions([]string{"create services", "create services", "create endpointslices"}, []string{"update mydemos/status"})
		svc := f.storedService(key)
		if svc.Spec.IPFamilies[0] != corev1.IPv4Protocol || *svc.Spec.IPFamilyPolicy != corev1.IPFamilyPolicyPreferDualStack {
			t.Errorf("Service families %v policy %v", svc.Spec.IPFamilies, *svc.Spec.IPFamilyPolicy)
		}
		st := f.storedMydemo(key).Status
		if ep := st.Endpoints[0]; ep.Published || ep.Reason != ReasonFamilyNotServed || ep.Probe != crddemov1.ProbeNotProbed {
			t.Errorf("IPv6 endpoint %+v, want refused %s and not probed", ep, ReasonFamilyNotServed)
		}
		if cond := meta.FindStatusCondition(st.Conditions, crddemov1.ConditionPublished); cond.Status != metav1.ConditionTrue {
			t.Errorf("Published = %+v", cond)
		}
		if _, probed := f.prober.states["[2001:db8::1]:5432"]; probed {
			t.Error("the refused endpoint was handed to the prober")
		}
		f.expectEvents("Normal Published", "Warning AddressRefused")
	})

	t.Run("hostname answers AAAA only", func(t *testing.T) {
		// A dual-stack name whose A lookup failed for a moment: the IPv4
		// Service must not be replaced by an IPv6 one the cluster would
		// reject (losing its cluster IP), nor its endpoints published.
		md := newMydemo("db", "", 5432, func(md *crddemov1.Mydemo) {
			md.Spec.IP = ""
			md.Spec.Endpoints = []crddemov1.Endpoint{{Hostname: "db.test"}}
		})
		key := cache.MetaObjectToName(md)
		f := newFixture(t, []*crddemov1.Mydemo{md}, nil, nil)
		f.resolver.answers["db.test"] = resolve.Answer{Resolved: true, Addrs: []netip.Addr{netip.MustParseAddr("10.1.0.1")}}
		f.prober.states["10.1.0.1:5432"] = reachable
		if r := f.sync(key); r.retry {
			t.Fatalf("sync: %+v", r)
		}
		stored, svc, slice := f.storedMydemo(key), f.storedService(key), f.storedSlice("ns", "db-ipv4")
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "10.96.0.10", []string{"10.96.0.10"}

		f = newFixture(t, []*crddemov1.Mydemo{stored}, []runtime.Object{svc, slice}, nil)
		f.resolver.answers["db.test"] = resolve.Answer{Resolved: true, Addrs: []netip.Addr{netip.MustParseAddr("2001:db8::1")}}
		if r := f.sync(key); r.retry {
			t.Fatalf("sync: %+v", r)
		}
		// One update asks the cluster for the other family; it is not
		// served, so the Service stays and the empty IPv4 slice goes.
		f.expectActions([]string{"update services", "delete endpointslices"}, []string{"update mydemos/status"})
		if got := f.storedService(key); got.Spec.ClusterIP != "10.96.0.10" || got.Spec.IPFamilies[0] != corev1.IPv4Protocol {
			t.Errorf("Service %v %v, want the IPv4 Service kept", got.Spec.IPFamilies, got.Spec.ClusterIP)
		}
		st := f.storedMydemo(key).Status
		if len(st.Endpoints) != 1 || st.Endpoints[0].Published || st.Endpoints[0].Reason != ReasonFamilyNotServed {
			t.Errorf("endpoints %+v, want the IPv6 answer refused with %s", st.Endpoints, ReasonFamilyNotServed)
		}
		if st.ServiceName != "db" {
			t.Errorf("serviceName %q, want db", st.ServiceName)
		}
	})

	t.Run("hostname gains an AAAA record", func(t *testing.T) {
		md := newMydemo("db", "", 5432, func(md *crddemov1.Mydemo) {
			md.Spec.IP = ""
			md.Spec.Endpoints = []crddemov1.Endpoint{{Hostname: "db.test"}}
		})
		key := cache.MetaObjectToName(md)
		v4 := resolve.Answer{Resolved: true, Addrs: []netip.Addr{netip.MustParseAddr("10.1.0.1")}}
		f := newFixture(t, []*crddemov1.Mydemo{md}, nil, nil)
		f.resolver.answers["db.test"] = v4
		f.prober.states["10.1.0.1:5432"] = reachable
		if r := f.sync(key); r.retry {
			t.Fatalf("sync: %+v", r)
		}
		stored := f.storedMydemo(key)
		svc, slice := f.storedService(key), f.storedSlice("ns", "db-ipv4")

		both := resolve.Answer{Resolved: true, Addrs: []netip.Addr{netip.MustParseAddr("10.1.0.1"), netip.MustParseAddr("2001:db8::1")}}
		for i := range 2 {
			f = newFixture(t, []*crddemov1.Mydemo{stored}, []runtime.Object{svc, slice}, nil)
			f.resolver.answers["db.test"] = both
			f.prober.states["10.1.0.1:5432"] = reachable
			if r := f.sync(key); r.retry {
				t.Fatalf("sync: %+v", r)
			}
			if i == 0 {
				// The Service asks for both families once; the slice
				// is not touched.
				f.expectActions([]string{"update services"}, []string{"update mydemos/status"})
			} else {
				// Then the refusal is known before probing, and nothing
				// is written at all.
				f.expectActions(nil, nil)
			}
			stored, svc = f.storedMydemo(key), f.storedService(key)
			st := stored.Status
			if len(st.Endpoints) != 2 || !st.Endpoints[0].Ready || st.Endpoints[1].Reason != ReasonFamilyNotServed {
				t.Fatalf("sync %d: endpoints %+v", i, st.Endpoints)
			}
			if cond := meta.FindStatusCondition(st.Conditions, crddemov1.ConditionReady); cond.Status != metav1.ConditionTrue {
				t.Errorf("sync %d: Ready = %+v", i, cond)
			}
			if _, probed := f.prober.targets[key]; i == 1 && len(f.prober.targets[key]) != 1 || !probed {
				t.Errorf("sync %d: prober targets %+v, want the IPv4 endpoint alone", i, f.prober.targets[key])
			}
		}
	})
}
