package controller

import (
	"context"
	"errors"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2/ktesting"

	"go.uber.org/goleak"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
)

type recordingObserver struct{ results []string }

func (o *recordingObserver) ObserveSync(result string, _ time.Duration) {
	o.results = append(o.results, result)
}

func TestProcessNextItemResults(t *testing.T) {
	key := cache.ObjectName{Namespace: "ns", Name: "web"}
	conflict := apierrors.NewConflict(schema.GroupResource{Resource: "services"}, "web", errors.New("x"))
	for name, tc := range map[string]struct {
		result     syncResult
		wantResult string
		wantRetry  bool
	}{
		"success":        {syncResult{}, SyncSuccess, false},
		"watched":        {syncResult{waitWatch: true}, SyncSuccess, false},
		"waiting":        {syncResult{requeueAfter: time.Second}, SyncSuccess, false},
		"foreign object": {syncResult{retry: true}, SyncRetry, true},
		"stale cache":    {syncResult{retry: true, err: conflict}, SyncRetry, true},
		"other error":    {syncResult{retry: true, err: errors.New("boom")}, SyncError, true},
	} {
		t.Run(name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			f := newFixture(t, nil, nil, nil)
			obs := &recordingObserver{}
			f.controller.observer = obs
			f.controller.syncHandler = func(context.Context, cache.ObjectName, queueState) syncResult { return tc.result }
			f.controller.queue.Add(key)
			if !f.controller.processNextItem(ctx) {
				t.Fatal("queue shut down")
			}
			if len(obs.results) != 1 || obs.results[0] != tc.wantResult {
				t.Errorf("results %v, want %s", obs.results, tc.wantResult)
			}
			if got := f.controller.queue.NumRequeues(key) > 0; got != tc.wantRetry {
				t.Errorf("requeued = %v, want %v", got, tc.wantRetry)
			}
		})
	}
}

// TestProcessNextItemStopsTakingKeys: after a stop, a worker leaves the
// remaining keys alone instead of syncing them.
func TestProcessNextItemStopsTakingKeys(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	f := newFixture(t, nil, nil, nil)
	synced := 0
	f.controller.syncHandler = func(context.Context, cache.ObjectName, queueState) syncResult { synced++; return syncResult{} }
	f.controller.queue.Add(cache.ObjectName{Namespace: "ns", Name: "a"})
	cancel()
	if f.controller.processNextItem(ctx) {
		t.Error("worker went on after the stop")
	}
	if synced != 0 {
		t.Errorf("synced %d keys after the stop", synced)
	}
}

// TestSyncSurvivesStop: a sync in progress when the controller is stopped
// runs on a context that is not cancelled, so it is not cut between two
// writes.
func TestSyncSurvivesStop(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	f := newFixture(t, nil, nil, nil)
	var syncErr error
	f.controller.syncHandler = func(syncCtx context.Context, _ cache.ObjectName, _ queueState) syncResult {
		cancel()
		syncErr = syncCtx.Err()
		return syncResult{}
	}
	f.controller.queue.Add(cache.ObjectName{Namespace: "ns", Name: "a"})
	f.controller.processNextItem(ctx)
	if syncErr != nil {
		t.Errorf("sync context cancelled with the controller: %v", syncErr)
	}
}

// TestNewStartsNoGoroutine: New only wires; the prober, resolver, Event
// broadcaster and watches start in Run. So a New that fails, or a replica
// that never leads, leaves nothing running.
func TestNewStartsNoGoroutine(t *testing.T) {
	md := newMydemo("web", "10.1.2.3", 80)
	f := newFixture(t, []*crddemov1.Mydemo{md}, nil, nil)
	// The fixture's own queue runs (a workqueue has a goroutine); nothing
	// else may.
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	if f.controller.recorder.broadcaster != nil {
		t.Error("the Event broadcaster runs before Run")
	}
	// A second New on the same informers fails (the owner index exists),
	// and must not leave anything behind either.
	_, ctx := ktesting.NewTestContext(t)
	kubeFactory, mdFactory := NewInformerFactories(f.kubeClient, f.client, "", 0)
	sliceInformer := kubeFactory.Discovery().V1().EndpointSlices()
	if err := sliceInformer.Informer().AddIndexers(cache.Indexers{ownerIndex: indexByOwner}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(ctx, f.kubeClient, f.client, mdFactory.Crddemo().V1().Mydemos(), kubeFactory.Core().V1().Services(), sliceInformer, Options{}); err == nil {
		t.Fatal("New succeeded with a conflicting index")
	}
}
