package controller

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/klog/v2/ktesting"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	crddemoscheme "github.com/crddemo/crddemo/pkg/generated/clientset/versioned/scheme"
)

// TestEventBurstIsNotDropped: an outage of 1,300 Mydemos records 1,300
// Events at once, faster than any sink writes them. client-go's
// broadcaster alone would hold 1,000 and drop the rest; the pipeline
// queues them and every one reaches the API.
func TestEventBurstIsNotDropped(t *testing.T) {
	const n = 1300
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	client := k8sfake.NewClientset()
	var creates atomic.Int64
	client.PrependReactor("create", "events", func(k8stesting.Action) (bool, runtime.Object, error) {
		creates.Add(1)
		return false, nil, nil
	})
	utilruntime.Must(crddemoscheme.AddToScheme(scheme.Scheme))
	p := newEventPipeline(client)
	p.start(ctx)
	for i := range n {
		md := &crddemov1.Mydemo{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: fmt.Sprintf("md-%d", i), UID: types.UID(fmt.Sprint(i))}}
		p.Event(md, "Warning", ReasonUnreachable, "Unreachable: connection refused")
	}
	deadline := time.Now().Add(30 * time.Second)
	for creates.Load() < n && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := creates.Load(); got != n {
		t.Fatalf("%d of %d Events created", got, n)
	}
	if d := p.dropped.Load(); d != 0 {
		t.Errorf("%d Events dropped", d)
	}
	p.shutdown(ctx)
}

// fakeSink fails every write while failing is set.
type fakeSink struct{ failing bool }

func (f *fakeSink) result(e *corev1.Event) (*corev1.Event, error) {
	if f.failing {
		return nil, errors.New("refused")
	}
	return e, nil
}
func (f *fakeSink) Create(e *corev1.Event) (*corev1.Event, error)          { return f.result(e) }
func (f *fakeSink) Update(e *corev1.Event) (*corev1.Event, error)          { return f.result(e) }
func (f *fakeSink) Patch(e *corev1.Event, _ []byte) (*corev1.Event, error) { return f.result(e) }

// TestCountingSink: client-go calls the sink once per attempt, so only a
// successful write counts, and never more than were handed over: the
// backlog metric must not read low while Events are being retried.
func TestCountingSink(t *testing.T) {
	var written, emitted atomic.Int64
	inner := &fakeSink{failing: true}
	s := &countingSink{EventSink: inner, written: &written, emitted: &emitted, wake: make(chan struct{}, 1)}
	e := &corev1.Event{}
	emitted.Store(2)
	for range 3 { // a refused Event, retried
		_, _ = s.Create(e)
	}
	if got := written.Load(); got != 0 {
		t.Fatalf("refused writes counted: written = %d", got)
	}
	inner.failing = false
	_, _ = s.Patch(e, nil)
	_, _ = s.Create(e)
	_, _ = s.Update(e) // one more success than was handed over
	if got := written.Load(); got != 2 {
		t.Errorf("written = %d after 3 successes of 2 Events, want 2", got)
	}
}

// TestUnwrittenReturnsToZero: Events that client-go's spam filter drops
// never reach the sink. Fewer of them than eventsInFlight once stayed
// counted as unwritten forever; once nothing has been written for the
// give-up time they no longer count.
func TestUnwrittenReturnsToZero(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	client := k8sfake.NewClientset()
	var creates atomic.Int64
	client.PrependReactor("create", "events", func(k8stesting.Action) (bool, runtime.Object, error) {
		creates.Add(1)
		return false, nil, nil
	})
	utilruntime.Must(crddemoscheme.AddToScheme(scheme.Scheme))
	p := newEventPipeline(client)
	p.giveUpIdle = 500 * time.Millisecond
	p.start(ctx)
	defer p.shutdown(ctx)
	// One object, many distinct Events: the spam filter lets a burst of
	// 25 through and drops the rest.
	md := &crddemov1.Mydemo{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "md", UID: "uid"}}
	const n = 40
	for i := range n {
		p.Event(md, "Warning", ReasonUnreachable, fmt.Sprintf("Unreachable: attempt %d", i))
	}
	deadline := time.Now().Add(p.giveUpIdle + 10*time.Second)
	for p.unwritten() > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if u := p.unwritten(); u != 0 {
		t.Fatalf("%d Events still counted as unwritten after %d were written and the rest dropped", u, creates.Load())
	}
	if c := creates.Load(); c == 0 || c >= n {
		t.Errorf("%d of %d Events written: the test needs the spam filter to drop some", c, n)
	}
}
