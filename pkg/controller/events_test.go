package controller

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/klog/v2/ktesting"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
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

	// A refusal is final, as client-go gives up on it; a patch's
	// NotFound is not, since a create follows it.
	written.Store(0)
	refused := &refusingSink{err: apierrors.NewForbidden(schema.GroupResource{Resource: "events"}, "x", errors.New("namespace is being terminated"))}
	s = &countingSink{EventSink: refused, written: &written, emitted: &emitted, wake: make(chan struct{}, 1)}
	_, _ = s.Create(e)
	if got := written.Load(); got != 1 {
		t.Errorf("a refused create: written = %d, want 1", got)
	}
	refused.err = apierrors.NewNotFound(schema.GroupResource{Resource: "events"}, "x")
	_, _ = s.Patch(e, nil)
	if got := written.Load(); got != 1 {
		t.Errorf("a patch's NotFound counted: written = %d, want 1", got)
	}
}

// refusingSink fails every write with err.
type refusingSink struct{ err error }

func (f *refusingSink) Create(*corev1.Event) (*corev1.Event, error)        { return nil, f.err }
func (f *refusingSink) Update(*corev1.Event) (*corev1.Event, error)        { return nil, f.err }
func (f *refusingSink) Patch(*corev1.Event, []byte) (*corev1.Event, error) { return nil, f.err }

// TestUnwrittenReturnsToZero: Events that client-go's spam filter drops
// never reach the sink, and fewer of them than eventsInFlight once stayed
// counted as unwritten forever. The pipeline now limits each object
// itself, before the broadcaster, so what it hands over is written, and
// the gauge returns to 0 as soon as the writes are done, without waiting
// for the give-up time.
func TestUnwrittenReturnsToZero(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	client := k8sfake.NewClientset()
	// Similar Events are aggregated: the later ones patch the first.
	var writes atomic.Int64
	for _, verb := range []string{"create", "patch"} {
		client.PrependReactor(verb, "events", func(k8stesting.Action) (bool, runtime.Object, error) {
			writes.Add(1)
			return false, nil, nil
		})
	}
	p := newEventPipeline(client)
	p.giveUpIdle = time.Hour
	p.start(ctx)
	defer p.shutdown(ctx)
	// One object, many distinct Events: the spam filter lets a burst of
	// 25 through and drops the rest.
	md := &crddemov1.Mydemo{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "md", UID: "uid"}}
	const n = 40
	for i := range n {
		p.Event(md, "Warning", ReasonUnreachable, fmt.Sprintf("Unreachable: attempt %d", i))
	}
	deadline := time.Now().Add(10 * time.Second)
	for p.unwritten() > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if u := p.unwritten(); u != 0 {
		t.Fatalf("%d Events still counted as unwritten after %d were written and the rest dropped", u, writes.Load())
	}
	if c := writes.Load(); c != eventSpamBurst {
		t.Errorf("%d of %d Events written, want the burst of %d", c, n, eventSpamBurst)
	}
}

// TestRefusedEventsAreNotUnwritten: Events about Mydemos whose namespace
// is being deleted are refused by the API server, and client-go gives up
// on them at once: they stop counting as unwritten at once too.
func TestRefusedEventsAreNotUnwritten(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	client := k8sfake.NewClientset()
	var refusals atomic.Int64
	client.PrependReactor("create", "events", func(k8stesting.Action) (bool, runtime.Object, error) {
		refusals.Add(1)
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "events"}, "e", errors.New("namespace gone is being terminated"))
	})
	p := newEventPipeline(client)
	p.giveUpIdle = time.Hour
	p.start(ctx)
	defer p.shutdown(ctx)
	const n = 10
	for i := range n {
		md := &crddemov1.Mydemo{ObjectMeta: metav1.ObjectMeta{Namespace: "gone", Name: fmt.Sprintf("md-%d", i), UID: types.UID(fmt.Sprint(i))}}
		p.Event(md, "Warning", ReasonUnreachable, "Unreachable: connection refused")
	}
	deadline := time.Now().Add(10 * time.Second)
	for p.unwritten() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if u := p.unwritten(); u != 0 {
		t.Fatalf("%d refused Events still counted as unwritten after %d refusals", u, refusals.Load())
	}
}
