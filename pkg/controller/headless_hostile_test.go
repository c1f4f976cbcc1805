package controller

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
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
)

// A hostile review of switching spec.headless: the Service is replaced
// (delete, then create) in one sync, and what answers the create decides
// what the slices may feed.

// refuseIPv6ClusterIP makes the fake API server act as an IPv4-only
// cluster's: a Service with a cluster IP and IPv6 as its primary family is
// invalid; a headless one is not (the API server gives a selector-less
// headless Service both families on any cluster).
func refuseIPv6ClusterIP(f *fixture) {
	f.kubeClient.PrependReactor("create", "services", func(action k8stesting.Action) (bool, runtime.Object, error) {
		svc := action.(k8stesting.CreateAction).GetObject().(*corev1.Service)
		if isHeadless(svc) || svc.Spec.IPFamilies[0] != corev1.IPv6Protocol {
			return false, nil, nil
		}
		return true, nil, apierrors.NewInvalid(schema.GroupKind{Kind: "Service"}, svc.Name, field.ErrorList{
			field.Invalid(field.NewPath("spec", "ipFamilies").Index(0), "IPv6", "not configured on this cluster")})
	})
}

// TestHeadlessOffOnSingleStackClusterKeepsTheName: a headless Mydemo whose
// first endpoint is IPv6, on an IPv4-only cluster, has a Service of
// families [IPv6, IPv4]. Turning headless off replaces it; the replacement
// must fall back to IPv4 first, as a new Service does, in the same sync,
// rather than leave the name without a Service and the Mydemo without
// slices until a retry.
func TestHeadlessOffOnSingleStackClusterKeepsTheName(t *testing.T) {
	md := newMydemo("db", "", 5432, probeNone, func(md *crddemov1.Mydemo) {
		md.Spec.Endpoints = []crddemov1.Endpoint{{IP: "2001:db8::1", Name: "db-0"}, {IP: "10.1.0.1", Name: "db-1"}}
	})
	existing := ourService(md, corev1.IPFamilyPolicyPreferDualStack, corev1.IPv6Protocol, corev1.IPv4Protocol)
	existing.Spec.ClusterIP, existing.Spec.ClusterIPs = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}
	key := cache.MetaObjectToName(md)
	f := newFixture(t, []*crddemov1.Mydemo{md}, []runtime.Object{existing}, nil)
	refuseIPv6ClusterIP(f)
	if r := f.sync(key); r.retry {
		t.Fatalf("sync: %+v, want the Service replaced in this sync", r)
	}
	svc := f.storedService(key)
	if isHeadless(svc) || svc.Spec.IPFamilies[0] != corev1.IPv4Protocol {
		t.Errorf("Service clusterIP %q families %v, want a ClusterIP Service, IPv4 first", svc.Spec.ClusterIP, svc.Spec.IPFamilies)
	}
	if s := f.storedSlice("ns", "db-ipv4"); len(s.Endpoints) != 1 || ptr.Deref(s.Endpoints[0].Hostname, "") != "db-1" {
		t.Errorf("IPv4 slice %+v", s.Endpoints)
	}
	if cond := meta.FindStatusCondition(f.storedMydemo(key).Status.Conditions, crddemov1.ConditionPublished); cond == nil || cond.Status != metav1.ConditionTrue {
		t.Errorf("Published %+v", cond)
	}
}

// TestHeadlessSwitchRaceWithForeignService: the switch deletes the
// Service and creates its replacement; if another Service takes the name
// in between, the create answers AlreadyExists with that Service. It is
// foreign: no slice of ours may carry its name (cluster DNS and kube-proxy
// would publish our endpoints, with their names, under it), and the status
// must not call it ours.
func TestHeadlessSwitchRaceWithForeignService(t *testing.T) {
	md := zoned("c", headless, probeNone)
	key := cache.MetaObjectToName(md)
	existing := ourService(md, corev1.IPFamilyPolicySingleStack, corev1.IPv4Protocol)
	f := newFixture(t, []*crddemov1.Mydemo{md}, []runtime.Object{existing}, nil)
	svcs := corev1.SchemeGroupVersion.WithResource("services")
	f.kubeClient.PrependReactor("delete", "services", func(action k8stesting.Action) (bool, runtime.Object, error) {
		name := action.(k8stesting.DeleteAction).GetName()
		if err := f.kubeClient.Tracker().Delete(svcs, "ns", name); err != nil {
			return true, nil, err
		}
		// Someone else's Service takes the name at once.
		return true, nil, f.kubeClient.Tracker().Create(svcs, foreignService(name), "ns")
	})
	r := f.sync(key)
	if !r.retry && !r.waitWatch {
		t.Errorf("sync %+v, want it to wait for the foreign Service", r)
	}
	for _, a := range f.kubeClient.Actions() {
		if a.GetVerb() == "create" && a.GetResource().Resource == "endpointslices" {
			t.Errorf("a slice was created for the foreign Service: %+v", a.(k8stesting.CreateAction).GetObject())
		}
	}
	st := f.storedMydemo(key).Status
	if cond := meta.FindStatusCondition(st.Conditions, crddemov1.ConditionPublished); cond == nil || cond.Status != metav1.ConditionFalse || cond.Reason != ReasonServiceConflict {
		t.Errorf("Published %+v, want False %s", cond, ReasonServiceConflict)
	}
	if svc := f.storedService(key); svc.Spec.Selector["app"] != "other" {
		t.Errorf("foreign Service changed: %+v", svc.Spec)
	}
}

// TestHeadlessSwitchWhileAFinalizerHoldsTheService: when a finalizer
// holds the replaced Service, its delete only marks it, and the create
// answers AlreadyExists with that same Service, still with its cluster
// IP. It is not the replacement: the sync retries, and publishes nothing
// under the old Service as if it were the new one.
func TestHeadlessSwitchWhileAFinalizerHoldsTheService(t *testing.T) {
	md := zoned("c", headless, probeNone)
	key := cache.MetaObjectToName(md)
	existing := ourService(md, corev1.IPFamilyPolicySingleStack, corev1.IPv4Protocol)
	existing.Finalizers = []string{"example.test/hold"}
	f := newFixture(t, []*crddemov1.Mydemo{md}, []runtime.Object{existing}, nil)
	svcs := corev1.SchemeGroupVersion.WithResource("services")
	f.kubeClient.PrependReactor("delete", "services", func(action k8stesting.Action) (bool, runtime.Object, error) {
		held := existing.DeepCopy()
		held.DeletionTimestamp = &metav1.Time{Time: fixedNow}
		return true, nil, f.kubeClient.Tracker().Update(svcs, held, "ns")
	})
	r := f.sync(key)
	if !r.retry || r.err == nil || !strings.Contains(r.err.Error(), "finalizer") {
		t.Errorf("sync %+v, want a retry saying a finalizer holds the Service", r)
	}
	for _, a := range f.kubeClient.Actions() {
		if a.GetVerb() == "create" && a.GetResource().Resource == "endpointslices" {
			t.Errorf("slices published under the Service being deleted")
		}
	}
}

// TestInternalTrafficPolicyLocalIsRepaired: anyone who may update Services
// in the namespace can set internalTrafficPolicy Local on a Mydemo's
// Service; kube-proxy then sends in-cluster traffic only to endpoints on
// the client's own node, and no endpoint of a Mydemo is on a node, so
// every connection would be dropped while the status says Ready. The
// controller puts it back to Cluster, and keeps the rest of the Service.
func TestInternalTrafficPolicyLocalIsRepaired(t *testing.T) {
	stored, children := converge(t, newMydemo("web", "10.1.2.3", 8080), reachable)
	svc := children[0].(*corev1.Service)
	svc.Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyLocal)
	f := newFixture(t, []*crddemov1.Mydemo{stored}, children, nil)
	key := cache.MetaObjectToName(stored)
	f.prober.states[f.addr(key)] = reachable
	if r := f.sync(key); r.retry {
		t.Fatalf("sync: %+v", r)
	}
	f.expectActions([]string{"update services"}, nil)
	got := f.storedService(key)
	if p := got.Spec.InternalTrafficPolicy; p == nil || *p != corev1.ServiceInternalTrafficPolicyCluster || got.Spec.ClusterIP != svc.Spec.ClusterIP {
		t.Errorf("Service internalTrafficPolicy %v clusterIP %q, want Cluster and the same cluster IP", p, got.Spec.ClusterIP)
	}
	// Cluster, as the API server defaults it, is at rest.
	f = newFixture(t, []*crddemov1.Mydemo{stored}, []runtime.Object{got, children[1]}, nil)
	f.prober.states[f.addr(key)] = reachable
	if r := f.sync(key); r.retry {
		t.Fatalf("sync: %+v", r)
	}
	f.expectActions(nil, nil)
}
