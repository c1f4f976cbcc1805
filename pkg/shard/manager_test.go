package shard

import (
	"context"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

const (
	testNamespace = "ns"
	testGroup     = "g"
	testDuration  = 15 * time.Second
)

// otherLease is another member's Lease publishing view.
func otherLease(name string, v view, renewed time.Time) *coordinationv1.Lease {
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNamespace, Labels: map[string]string{GroupLabel: testGroup},
			Annotations: map[string]string{ViewAnnotation: v.encode()}},
		Spec: coordinationv1.LeaseSpec{LeaseDurationSeconds: ptr.To(int32(testDuration / time.Second)),
			RenewTime: ptr.To(metav1.NewMicroTime(renewed))},
	}
}

// startTestManager runs a member named g-me on a fake clientset (which
// does not generate names: a reactor does) and a fake clock.
func startTestManager(t *testing.T, client *fake.Clientset, clk *clocktesting.FakeClock) *Manager {
	t.Helper()
	client.PrependReactor("create", "leases", func(action k8stesting.Action) (bool, runtime.Object, error) {
		l := action.(k8stesting.CreateAction).GetObject().(*coordinationv1.Lease)
		if l.Name == "" {
			l.Name = l.GenerateName + "me"
		}
		return false, nil, nil
	})
	m, err := NewManager(Options{Client: client, Namespace: testNamespace, Group: testGroup, Identity: "me",
		LeaseDuration: testDuration, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return m
}

// waitAssignment steps the fake clock by a millisecond at a time (so
// the loop's timers fire) until cond holds of the assignment.
func waitAssignment(t *testing.T, m *Manager, clk *clocktesting.FakeClock, what string, cond func(*Assignment) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond(m.Assignment()) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; assignment %+v", what, m.Assignment())
		}
		clk.Step(time.Millisecond)
		time.Sleep(time.Millisecond)
	}
}

// owned counts the keys a owns, and those view v gives to g-me.
func owned(a *Assignment, keys []string, v view) (got, mine int) {
	for _, k := range keys {
		if a.Owns(k) {
			got++
		}
		if v.assigns(k, testGroup+"-me") {
			mine++
		}
	}
	return got, mine
}

// The fence: a newcomer starts no key that a live member's published
// view still gives to that member, however its own view hashes; it takes
// its share once that member publishes a view with it, and the rest once
// the member's Lease expired by its own clock, not before.
func TestNewcomerWaitsForReleaseOrExpiry(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	other := otherLease(testGroup+"-other", view{testGroup + "-other"}, clk.Now())
	client := fake.NewClientset(other)
	m := startTestManager(t, client, clk)
	both := view{testGroup + "-me", testGroup + "-other"}
	keys := testKeys(300)

	waitAssignment(t, m, clk, "a view of both members and the other's published view read", func(a *Assignment) bool {
		return a != nil && len(a.claims) == 1 && a.claims[0].equal(both) && a.others[testGroup+"-other"] != nil
	})
	if got, mine := owned(m.Assignment(), keys, both); got != 0 {
		t.Fatalf("owns %d keys (its view gives it %d) while the other member claims all", got, mine)
	}

	// The other member publishes the view with both: our share is ours.
	other.Annotations[ViewAnnotation] = both.encode()
	if _, err := client.CoordinationV1().Leases(testNamespace).Update(context.Background(), other, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitAssignment(t, m, clk, "our share after the other's release", func(a *Assignment) bool {
		got, mine := owned(a, keys, both)
		return got == mine && got > 0
	})
	if got, mine := owned(m.Assignment(), keys, both); got != mine || mine == len(keys) {
		t.Fatalf("owns %d keys, want its share %d of %d", got, mine, len(keys))
	}

	// The other member falls silent. Just short of its lease duration
	// (as we observed it) it still holds its share; just past, we hold
	// everything.
	observed := clk.Now()
	clk.SetTime(observed.Add(testDuration - 500*time.Millisecond))
	lease := func() *coordinationv1.Lease {
		l, err := client.CoordinationV1().Leases(testNamespace).Get(context.Background(), testGroup+"-me", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	deadline := time.Now().Add(20 * time.Second)
	for !lease().Spec.RenewTime.Time.Equal(clk.Now()) {
		if time.Now().After(deadline) {
			t.Fatal("the manager did not renew after the clock moved")
		}
		time.Sleep(time.Millisecond)
	}
	if got, _ := owned(m.Assignment(), keys, both); got == len(keys) {
		t.Fatal("took the other member's share before its Lease expired")
	}
	waitAssignment(t, m, clk, "every key once the other's Lease expired", func(a *Assignment) bool {
		got, _ := owned(a, keys, both)
		return got == len(keys)
	})
}
