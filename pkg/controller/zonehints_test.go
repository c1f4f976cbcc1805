package controller

import (
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/probe"
)

// The ZoneHints condition claims routing only where it happens (issue 24's
// hostile review): not on a headless Service, and not while the slices
// that would carry the hints are not written.

// zoneHintsCondition is md's ZoneHints condition computed from three
// reachable endpoints, published as pub says.
func zoneHintsCondition(t *testing.T, md *crddemov1.Mydemo, pub publication) *metav1.Condition {
	t.Helper()
	spec := specOf(t, md)
	in := viewOf(md, spec, mainSlots(3), []probe.State{reachable, reachable, reachable})
	in.pub = pub
	return meta.FindStatusCondition(computeStatus(md, in, fixedNow).Conditions, crddemov1.ConditionZoneHints)
}

// TestZoneHintsOnHeadlessSayTheyRouteNothing: kube-proxy skips headless
// Services and cluster DNS answers every ready endpoint whatever its
// hint, so on a headless Mydemo the condition is False with a reason of
// its own, saying that the roles' Services (which keep a cluster IP) do
// route by the hints when there are roles.
func TestZoneHintsOnHeadlessSayTheyRouteNothing(t *testing.T) {
	for name, tc := range map[string]struct {
		md      *crddemov1.Mydemo
		message string
	}{
		"headless":            {zoned("c", headless, preferSameZone), msgHeadlessService},
		"headless with roles": {zoned("c", headless, preferSameZone, withRole("primary", 1)), msgHeadlessServiceRoles},
	} {
		t.Run(name, func(t *testing.T) {
			cond := zoneHintsCondition(t, tc.md, published)
			if cond == nil || cond.Status != metav1.ConditionFalse || cond.Reason != reasonHeadlessService || cond.Message != tc.message {
				t.Errorf("ZoneHints %+v, want False %s: %q", cond, reasonHeadlessService, tc.message)
			}
		})
	}
	// The same Mydemo with a cluster IP: its hints route.
	if cond := zoneHintsCondition(t, zoned("c", preferSameZone), published); cond == nil || cond.Status != metav1.ConditionTrue || cond.Reason != reasonZoneHintsWritten {
		t.Errorf("ZoneHints %+v with a cluster IP, want True %s", cond, reasonZoneHintsWritten)
	}
}

// TestZoneHintsNotPublishedWhileAForeignServiceHoldsTheName: a foreign
// Service holds the name, so every slice of ours is deleted; the
// condition says no hint is published.
func TestZoneHintsNotPublishedWhileAForeignServiceHoldsTheName(t *testing.T) {
	md := zoned("c", preferSameZone, probeNone)
	key := cache.MetaObjectToName(md)
	f := newFixture(t, []*crddemov1.Mydemo{md}, nil, []runtime.Object{foreignService("db")})
	f.sync(key)
	cond := meta.FindStatusCondition(f.storedMydemo(key).Status.Conditions, crddemov1.ConditionZoneHints)
	if cond == nil || cond.Status != metav1.ConditionFalse || cond.Reason != reasonNotPublished {
		t.Errorf("ZoneHints %+v while no slice is written, want False %s", cond, reasonNotPublished)
	}
}

// TestZoneHintsNotPublishedWhileTheSliceWriteFails: the Service is ours
// but the API server refuses the slice, so no hint is written; once the
// write goes through, the condition is True.
func TestZoneHintsNotPublishedWhileTheSliceWriteFails(t *testing.T) {
	md := zoned("c", preferSameZone, probeNone)
	key := cache.MetaObjectToName(md)
	f := newFixture(t, []*crddemov1.Mydemo{md}, nil, nil)
	refuse := true
	f.kubeClient.PrependReactor("create", "endpointslices", func(k8stesting.Action) (bool, runtime.Object, error) {
		if refuse {
			return true, nil, errors.New("admission webhook refused the slice")
		}
		return false, nil, nil
	})
	f.sync(key)
	cond := meta.FindStatusCondition(f.storedMydemo(key).Status.Conditions, crddemov1.ConditionZoneHints)
	if cond == nil || cond.Status != metav1.ConditionFalse || cond.Reason != reasonNotPublished {
		t.Errorf("ZoneHints %+v while the slice write fails, want False %s", cond, reasonNotPublished)
	}
	refuse = false
	f.sync(key)
	cond = meta.FindStatusCondition(f.storedMydemo(key).Status.Conditions, crddemov1.ConditionZoneHints)
	if cond == nil || cond.Status != metav1.ConditionTrue || cond.Reason != reasonZoneHintsWritten {
		t.Errorf("ZoneHints %+v once the slices are written, want True %s", cond, reasonZoneHintsWritten)
	}
}

// TestRoleServiceOfHeadlessMydemoKeepsClusterIP: a role Service made
// headless (as before role Services kept their cluster IP) is replaced
// by one with a cluster IP, while the Mydemo's own stays headless, so a
// failover moves new connections with the slice write instead of after
// clients' DNS caches expire.
func TestRoleServiceOfHeadlessMydemoKeepsClusterIP(t *testing.T) {
	md := zoned("c", headless, probeNone, withRole("primary", 1), func(md *crddemov1.Mydemo) { md.Spec.Port = 6379 })
	key := cache.MetaObjectToName(md)
	old := newService(md, roleService(md, "primary"), specOf(t, md), []corev1.IPFamily{corev1.IPv4Protocol})
	old.Spec.ClusterIP = corev1.ClusterIPNone
	old.ResourceVersion = "5"
	f := newFixture(t, []*crddemov1.Mydemo{md}, []runtime.Object{old}, nil)
	if r := f.sync(key); r.retry {
		t.Fatalf("sync: %+v", r)
	}
	if svc := f.storedService(cache.ObjectName{Namespace: "ns", Name: "db-primary"}); isHeadless(svc) {
		t.Errorf("role Service %s still headless", svc.Name)
	}
	if svc := f.storedService(key); !isHeadless(svc) {
		t.Errorf("the Mydemo's Service has clusterIP %q, want headless", svc.Spec.ClusterIP)
	}
}
