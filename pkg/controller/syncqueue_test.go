package controller

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2/ktesting"
	clocktesting "k8s.io/utils/clock/testing"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/probe"
)

// recordingQueue records every call that changes the queue.
type recordingQueue struct {
	workqueue.TypedRateLimitingInterface[cache.ObjectName]
	calls []string
}

func (q *recordingQueue) Add(key cache.ObjectName) {
	q.calls = append(q.calls, "Add "+key.String())
	q.TypedRateLimitingInterface.Add(key)
}

func (q *recordingQueue) AddAfter(key cache.ObjectName, d time.Duration) {
	q.calls = append(q.calls, fmt.Sprintf("AddAfter %s %v", key, d))
	q.TypedRateLimitingInterface.AddAfter(key, d)
}

func (q *recordingQueue) AddRateLimited(key cache.ObjectName) {
	q.calls = append(q.calls, "AddRateLimited "+key.String())
	q.TypedRateLimitingInterface.AddRateLimited(key)
}

func (q *recordingQueue) Forget(key cache.ObjectName) {
	q.calls = append(q.calls, "Forget "+key.String())
	q.TypedRateLimitingInterface.Forget(key)
}

func recordQueue(c *Controller) *recordingQueue {
	q := &recordingQueue{TypedRateLimitingInterface: c.queue}
	c.queue = q
	return q
}

// TestSyncNeverTouchesTheQueue: every wait a sync can end in (a first
// verdict, a first DNS answer, the wording pace, a conflict) comes back in
// its result; the sync itself neither adds nor forgets a key. Only the
// worker does, from the result.
func TestSyncNeverTouchesTheQueue(t *testing.T) {
	for name, tc := range map[string]struct {
		setup func(t *testing.T) (*fixture, cache.ObjectName)
		want  syncResult
	}{
		"first verdict": {
			setup: func(t *testing.T) (*fixture, cache.ObjectName) {
				md := newMydemo("web", "10.1.2.3", 8080)
				f := newFixture(t, []*crddemov1.Mydemo{md}, nil, nil)
				// The prober has just started on the endpoint.
				f.prober.states["10.1.2.3:8080"] = probe.State{Since: fixedNow}
				return f, cache.MetaObjectToName(md)
			},
			want: syncResult{requeueAfter: time.Second},
		},
		"first DNS answer": {
			setup: func(t *testing.T) (*fixture, cache.ObjectName) {
				md := newMydemo("web", "", 8080, func(md *crddemov1.Mydemo) {
					md.Spec.IP = ""
					md.Spec.Endpoints = []crddemov1.Endpoint{{Hostname: "web.test"}}
				})
				f := newFixture(t, []*crddemov1.Mydemo{md}, nil, nil)
				return f, cache.MetaObjectToName(md)
			},
			want: syncResult{requeueAfter: firstVerdictWait},
		},
		"wording pace": {
			setup: func(t *testing.T) (*fixture, cache.ObjectName) {
				stored, children := converge(t, newMydemo("web", "10.1.2.3", 8080), probe.State{Reachability: probe.Unreachable, Message: "HTTP 500 from GET /"})
				f := newFixture(t, []*crddemov1.Mydemo{stored}, children, nil)
				key := cache.MetaObjectToName(stored)
				f.prober.states["10.1.2.3:8080"] = probe.State{Reachability: probe.Unreachable, Message: "HTTP 501 from GET /"}
				if r := f.sync(key); r != (syncResult{}) {
					t.Fatalf("first rewording: %+v", r)
				}
				f.controller.clock.(*clocktesting.FakeClock).Step(10 * time.Second)
				f.prober.states["10.1.2.3:8080"] = probe.State{Reachability: probe.Unreachable, Message: "HTTP 502 from GET /"}
				return f, key
			},
			want: syncResult{requeueAfter: wordingRefresh - 10*time.Second},
		},
		"foreign Service": {
			setup: func(t *testing.T) (*fixture, cache.ObjectName) {
				md := newMydemo("web", "10.1.2.3", 8080, probeNone)
				f := newFixture(t, []*crddemov1.Mydemo{md}, nil, []runtime.Object{foreignService("web")})
				return f, cache.MetaObjectToName(md)
			},
			want: syncResult{retry: true},
		},
	} {
		t.Run(name, func(t *testing.T) {
			f, key := tc.setup(t)
			q := recordQueue(f.controller)
			if got := f.sync(key); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("result %+v, want %+v", got, tc.want)
			}
			if len(q.calls) != 0 || q.Len() != 0 {
				t.Errorf("the sync touched the queue: %q, %d keys queued", q.calls, q.Len())
			}
		})
	}
}

// TestWorkerActsOnResult: the worker turns each result into the queue
// calls it stands for.
func TestWorkerActsOnResult(t *testing.T) {
	key := cache.ObjectName{Namespace: "ns", Name: "web"}
	for name, tc := range map[string]struct {
		result syncResult
		want   []string
	}{
		"done":           {syncResult{}, []string{"Forget ns/web"}},
		"wait":           {syncResult{requeueAfter: 3 * time.Second}, []string{"Forget ns/web", "AddAfter ns/web 3s"}},
		"retry":          {syncResult{retry: true}, []string{"AddRateLimited ns/web"}},
		"retry and wait": {syncResult{retry: true, requeueAfter: time.Second}, []string{"AddRateLimited ns/web", "AddAfter ns/web 1s"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			f := newFixture(t, nil, nil, nil)
			f.controller.syncHandler = func(context.Context, cache.ObjectName, queueState) syncResult { return tc.result }
			q := recordQueue(f.controller)
			f.controller.queue.Add(key)
			q.calls = nil
			f.controller.processNextItem(ctx)
			if !reflect.DeepEqual(q.calls, tc.want) {
				t.Errorf("queue calls %q, want %q", q.calls, tc.want)
			}
		})
	}
}

// TestSyncToldFailures: whether a transient failure is worth a status
// write depends on how many syncs in a row failed, which the worker tells
// the sync (the sync does not ask the queue).
func TestSyncToldFailures(t *testing.T) {
	stored, children := converge(t, newMydemo("web", "10.1.2.3", 8080), reachable)
	key := cache.MetaObjectToName(stored)
	for _, tc := range []struct {
		failures    int
		wantWritten bool
	}{{0, false}, {lastingAfter - 1, false}, {lastingAfter, true}} {
		f := newFixture(t, []*crddemov1.Mydemo{stored}, children, nil)
		f.prober.states[f.addr(key)] = unreachable
		f.kubeClient.PrependReactor("update", "endpointslices", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewServerTimeout(schema.GroupResource{Group: "discovery.k8s.io", Resource: "endpointslices"}, "update", 1)
		})
		_, ctx := ktesting.NewTestContext(t)
		f.client.ClearActions()
		r := f.controller.syncMydemo(ctx, key, queueState{failures: tc.failures, waiting: func() int { return 0 }})
		if !r.retry || r.err == nil {
			t.Errorf("failures %d: result %+v, want a retry with the error", tc.failures, r)
		}
		if written := len(actionsOf(f.client.Actions())) > 0; written != tc.wantWritten {
			t.Errorf("failures %d: status written %v, want %v", tc.failures, written, tc.wantWritten)
		}
	}
}
