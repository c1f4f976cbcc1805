package controller

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/probe"
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
	other := newMydemo("other", "10.1.2.4", 80)
	moved := owned.DeepCopy()
	moved.ResourceVersion = "7"
	moved.OwnerReferences = []metav1.OwnerReference{ownerRef(other)}
	released := owned.DeepCopy()
	released.ResourceVersion = "8"
	released.OwnerReferences = nil
	unowned := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "other", ResourceVersion: "1"}}

	for name, tc := range map[string]struct {
		event func(c *Controller)
		want  int
		keys  []cache.ObjectName
	}{
		"mydemo add": {func(c *Controller) { c.enqueueMydemo(md) }, 1, nil},
		// Someone else's status is corrected by the next sync; the sync
		// after our own write costs no request.
		"mydemo status-only update": {func(c *Controller) { c.updateMydemo(md, statusOnly) }, 1, nil},
		"mydemo spec update":        {func(c *Controller) { c.updateMydemo(md, specChange) }, 1, nil},
		"mydemo resync":             {func(c *Controller) { c.updateMydemo(md, md) }, 1, nil},
		"mydemo delete tombstone": {func(c *Controller) {
			c.deleteMydemo(cache.DeletedFinalStateUnknown{Key: "ns/web", Obj: md})
		}, 1, nil},
		"owned child update":  {func(c *Controller) { c.updateChild(owned, ownedChanged) }, 1, nil},
		"owned child resync":  {func(c *Controller) { c.updateChild(owned, owned) }, 0, nil},
		"owned child deleted": {func(c *Controller) { c.deleteChild(cache.DeletedFinalStateUnknown{Key: "ns/web", Obj: owned}) }, 1, nil},
		"unowned child":       {func(c *Controller) { c.addChild(unowned) }, 0, nil},
		"controller changed":  {func(c *Controller) { c.updateChild(owned, moved) }, 2, []cache.ObjectName{key, cache.MetaObjectToName(other)}},
		"controller removed":  {func(c *Controller) { c.updateChild(owned, released) }, 1, nil},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, []*crddemov1.Mydemo{md}, nil, nil)
			tc.event(f.controller)
			if got := f.controller.queue.Len(); got != tc.want {
				t.Fatalf("queue length %d, want %d", got, tc.want)
			}
			for _, want := range tc.keys {
				got, _ := f.controller.queue.Get()
				if got != want {
					t.Errorf("enqueued %v, want %v", got, want)
				}
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
	f.prober.Sync(cache.MetaObjectToName(md), []probe.Target{{Address: "10.1.2.3:80"}})
	f.controller.deleteMydemo(md)
	if len(f.prober.targets) != 0 {
		t.Fatalf("probe still scheduled: %v", f.prober.targets)
	}
}
