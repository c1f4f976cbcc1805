package controller

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2/ktesting"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/crddemo/crddemo/pkg/generated/clientset/versioned"
	"github.com/crddemo/crddemo/pkg/resolve"
)

// claimUntil is a Shard that gives every key until a fixed time.
type claimUntil time.Time

func (u claimUntil) Begin(string) (time.Time, func(), bool) {
	return time.Time(u), func() {}, true
}

// A sync whose claim on its key has lapsed by the time it runs (the
// process was paused between Begin and the writes, or the claim was all
// but spent) sends no request: another replica may own the key by then.
// The fake clientset ignores contexts, so the clients here are real ones
// talking to a local server that counts what reaches it; the same sync
// with a claim still valid reaches it, so the count can tell.
func TestSyncSendsNothingPastTheShardClaim(t *testing.T) {
	for _, tc := range []struct {
		name      string
		until     time.Duration
		wantWrite bool
	}{
		{"claim valid", time.Minute, true},
		{"claim lapsed", -time.Millisecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			var requests atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				http.Error(w, "counted", http.StatusInternalServerError)
			}))
			t.Cleanup(srv.Close)
			cfg := &rest.Config{Host: srv.URL}
			kubeClient, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				t.Fatal(err)
			}
			mydemoClient, err := versioned.NewForConfig(cfg)
			if err != nil {
				t.Fatal(err)
			}
			md := newMydemo("db", "10.1.2.3", 5432, probeNone)
			kubeFactory, mdFactory := NewInformerFactories(kubeClient, mydemoClient, "", 0)
			mdInformer := mdFactory.Crddemo().V1().Mydemos()
			prober := newFakeProber()
			c, err := New(ctx, kubeClient, mydemoClient, mdInformer,
				kubeFactory.Core().V1().Services(), kubeFactory.Discovery().V1().EndpointSlices(), Options{
					Clock:       clocktesting.NewFakeClock(fixedNow),
					NewProber:   func(func(cache.ObjectName)) Prober { return prober },
					NewResolver: func(func(cache.ObjectName)) Resolver { return &fakeResolver{answers: map[string]resolve.Answer{}} },
					// The deadline is real time: the context that
					// carries it runs on the real clock.
					Shard: claimUntil(time.Now().Add(tc.until)),
				})
			if err != nil {
				t.Fatal(err)
			}
			c.recorder.recordDirectly(record.NewFakeRecorder(20))
			if err := mdInformer.Informer().GetIndexer().Add(md); err != nil {
				t.Fatal(err)
			}
			c.queue.Add(cache.MetaObjectToName(md))
			// The informers never started: every request is the
			// sync's own.
			c.processNextItem(ctx)
			if got := requests.Load(); (got > 0) != tc.wantWrite {
				t.Errorf("the sync sent %d requests; want any: %v", got, tc.wantWrite)
			}
		})
	}
}
