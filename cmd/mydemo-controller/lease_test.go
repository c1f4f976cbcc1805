package main

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/ptr"
)

func fastLeaseOptions() *options {
	o := newOptions()
	o.leaseDuration = time.Second
	o.renewDeadline = 600 * time.Millisecond
	o.retryPeriod = 100 * time.Millisecond
	o.leaderElectResourceNS = "kube-system"
	return o
}

func holder(t *testing.T, client *fake.Clientset) string {
	t.Helper()
	lease, err := client.CoordinationV1().Leases("kube-system").Get(context.Background(), "mydemo-controller", metav1.GetOptions{})
	if err != nil {
		return ""
	}
	return ptr.Deref(lease.Spec.HolderIdentity, "")
}

// TestLeaseReleasedAfterWorkStops: on shutdown the leader's work sees its
// context cancelled and returns before the Lease is released.
func TestLeaseReleasedAfterWorkStops(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	client := fake.NewClientset()
	var leading atomic.Bool
	exited := make(chan int, 1)
	r := &leaseRunner{opts: fastLeaseOptions(), client: client, leading: &leading, exit: func(code int) { exited <- code }}

	working := make(chan struct{})
	var holderWhenWorkEnded atomic.Value
	work := func(workCtx context.Context) error {
		close(working)
		<-workCtx.Done()
		// Draining: the Lease must still be ours.
		time.Sleep(100 * time.Millisecond)
		holderWhenWorkEnded.Store(holder(t, client))
		return nil
	}
	done := make(chan error, 1)
	go func() { done <- r.run(ctx, work) }()
	<-working
	if !leading.Load() {
		t.Error("not marked as leading while working")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if h, _ := holderWhenWorkEnded.Load().(string); h == "" {
		t.Error("the Lease was released before work finished draining")
	}
	if h := holder(t, client); h != "" {
		t.Errorf("the Lease is still held by %q after shutdown", h)
	}
	select {
	case code := <-exited:
		t.Errorf("exit(%d) called on a clean shutdown", code)
	default:
	}
}

// TestLeaseLostExits: when another replica takes the Lease, the process is
// ended at once and work is cancelled.
func TestLeaseLostExits(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	client := fake.NewClientset()
	var leading atomic.Bool
	exited := make(chan int, 1)
	r := &leaseRunner{opts: fastLeaseOptions(), client: client, leading: &leading, exit: func(code int) { exited <- code }}
	var partitioned atomic.Bool
	client.PrependReactor("update", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		if partitioned.Load() {
			return true, nil, errors.New("partitioned")
		}
		return false, nil, nil
	})

	working := make(chan struct{})
	workCancelled := make(chan struct{})
	go func() {
		_ = r.run(ctx, func(workCtx context.Context) error {
			close(working)
			<-workCtx.Done()
			close(workCancelled)
			return nil
		})
	}()
	<-working
	// The API server stops accepting our renewals (a partition, or
	// another replica took the Lease): the renew deadline passes.
	partitioned.Store(true)
	select {
	case code := <-exited:
		if code != 1 {
			t.Errorf("exit code %d, want 1", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the process did not exit after losing the lease")
	}
	select {
	case <-workCancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("work was not cancelled after losing the lease")
	}
}
