package controller

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
)

func TestHandlersEnqueue(t *testing.T) {
	md := newMydemo("web", "10.1.2.3", 80)
	md.ResourceVersion = "1"
	key := cache.MetaObjectToName(md)
	statusOnly := md.DeepCopy()
	statusOnly.ResourceVersion = "2"
	statusOnly.Status.ClusterIP = "10.96.0.1"
	specChange := md.DeepCopy()
	specChange.ResourceVersion = "3"
	specChange.Generation = 2

	owned := &corev1.Service{ObjectMeta: metav1.ObjectMeta{
		Namespace: "ns", Name: "web", ResourceVersion: "5",
		OwnerReferences: []metav1.OwnerReference{ownerRef(md)},
	}}
	ownedChanged := owned.DeepCopy()
	ownedChanged.ResourceVersion = "6"
	unowned := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "other", ResourceVersion: "1"}}

	for name, tc := range map[string]struct {
		event func(c *Controller)
		want  int
	}{
		"mydemo add":                {func(c *Controller) { c.enqueueMydemo(md) }, 1},
		"mydemo status-only update": {func(c *Controller) { c.updateMydemo(md, statusOnly) }, 0},
		"mydemo spec update":        {func(c *Controller) { c.updateMydemo(md, specChange) }, 1},
		"mydemo resync":             {func(c *Controller) { c.updateMydemo(md, md) }, 1},
		"mydemo delete tombstone": {func(c *Controller) {
			c.deleteMydemo(cache.DeletedFinalStateUnknown{Key: "ns/web", Obj: md})
		}, 1},
		"owned child update":  {func(c *Controller) { c.updateChild(owned, ownedChanged) }, 1},
		"owned child resync":  {func(c *Controller) { c.updateChild(owned, owned) }, 0},
		"owned child deleted": {func(c *Controller) { c.enqueueOwner(cache.DeletedFinalStateUnknown{Key: "ns/web", Obj: owned}) }, 1},
		"unowned child":       {func(c *Controller) { c.enqueueOwner(unowned) }, 0},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, []*crddemov1.Mydemo{md}, nil, nil)
			tc.event(f.controller)
			if got := f.controller.queue.Len(); got != tc.want {
				t.Fatalf("queue length %d, want %d", got, tc.want)
			}
			if tc.want == 1 {
				got, _ := f.controller.queue.Get()
				if got != key {
					t.Errorf("enqueued %v, want %v", got, key)
				}
			}
		})
	}
}

func TestDeleteStopsProbeAtOnce(t *testing.T) {
	md := newMydemo("web", "10.1.2.3", 80)
	f := newFixture(t, nil, nil, nil)
	f.prober.Ensure(cache.MetaObjectToName(md), testTarget)
	f.controller.deleteMydemo(md)
	if len(f.prober.targets) != 0 {
		t.Fatalf("probe still scheduled: %v", f.prober.targets)
	}
}
