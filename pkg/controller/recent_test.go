package controller

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	clocktesting "k8s.io/utils/clock/testing"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
)

func svcAt(rv string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "u1", ResourceVersion: rv}}
}

// TestRecentTwoWritesInARow: a second write over our own first one, before
// the cache caught up, is still served from the record, so the third read
// sees the second write, not the stale cache (no wasted conflict).
func TestRecentTwoWritesInARow(t *testing.T) {
	r := newRecentWrites(clocktesting.NewFakeClock(fixedNow))
	owner := cache.ObjectName{Namespace: "ns", Name: "web"}
	cached := svcAt("1")
	r.remember(kindService, "1", owner, svcAt("2"))
	got, _ := freshest(r, kindService, "ns", "web", cached, true)
	r.remember(kindService, got.ResourceVersion, owner, svcAt("3"))
	if got, _ := freshest(r, kindService, "ns", "web", cached, true); got.ResourceVersion != "3" {
		t.Fatalf("after two writes the record serves %q, want 3", got.ResourceVersion)
	}
	// The informer delivers our first write: not our latest, so the cache
	// (at 2) wins again and the record is dropped.
	r.observed(kindService, svcAt("2"), false)
	if r.len() != 0 {
		t.Errorf("%d entries after the cache moved", r.len())
	}
}

func TestRecentBounded(t *testing.T) {
	clk := clocktesting.NewFakeClock(fixedNow)
	r := newRecentWrites(clk)
	owner := cache.ObjectName{Namespace: "ns", Name: "web"}
	r.remember(kindService, "1", owner, svcAt("2"))
	clk.Step(recentTTL + time.Second)
	if got, _ := freshest(r, kindService, "ns", "web", svcAt("1"), true); got.ResourceVersion != "1" || r.len() != 0 {
		t.Errorf("an expired record was used: %q, %d entries", got.ResourceVersion, r.len())
	}
	for i := range recentMaxSize + 10 {
		s := svcAt("2")
		s.Name = fmt.Sprintf("s%d", i)
		r.remember(kindService, "1", owner, s)
	}
	if r.len() > recentMaxSize {
		t.Errorf("%d entries, cap %d", r.len(), recentMaxSize)
	}
	r.forgetOwner(owner)
	if r.len() != 0 {
		t.Errorf("%d entries left after the owner went", r.len())
	}
}

// TestRecentReplacedService: after a Service is deleted and created again
// (a family change), the delete event of the old one keeps our new one.
func TestRecentReplacedService(t *testing.T) {
	r := newRecentWrites(clocktesting.NewFakeClock(fixedNow))
	owner := cache.ObjectName{Namespace: "ns", Name: "web"}
	old := svcAt("5")
	created := svcAt("9")
	created.UID = types.UID("u2")
	r.rememberDeleted(kindService, old)
	r.remember(kindService, old.ResourceVersion, owner, created)
	if got, found := freshest(r, kindService, "ns", "web", old, true); !found || got.UID != "u2" {
		t.Fatalf("stale cache served over our new Service: %+v", got)
	}
	r.observed(kindService, old, true)
	if got, found := freshest(r, kindService, "ns", "web", (*corev1.Service)(nil), false); !found || got.UID != "u2" {
		t.Fatalf("after the old one's delete event: %v %+v", found, got)
	}
}

// TestStripMydemo: the Mydemo cache holds neither annotations, labels nor
// managedFields (a tenant can make each hundreds of KB), but everything a
// sync and an Event need.
func TestStripMydemo(t *testing.T) {
	md := newMydemo("web", "10.1.2.3", 80)
	md.ResourceVersion = "7"
	md.Annotations = map[string]string{"big": string(make([]byte, 250<<10))}
	md.Labels = map[string]string{"a": "b"}
	md.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
	md.Status.ObservedGeneration = 1
	out, err := stripMydemo(md)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*crddemov1.Mydemo)
	if got.Annotations != nil || got.Labels != nil || got.ManagedFields != nil {
		t.Errorf("kept %d annotations, %d labels, %d managedFields", len(got.Annotations), len(got.Labels), len(got.ManagedFields))
	}
	if got.UID != "uid-web" || got.ResourceVersion != "7" || got.Spec.IP != "10.1.2.3" || got.Status.ObservedGeneration != 1 {
		t.Errorf("dropped what the controller reads: %+v", got)
	}
}
