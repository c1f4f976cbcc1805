package controller

import (
	"context"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
)

// Bounds of the flush of Events on shutdown: the Events of the last syncs
// get this long to reach the API server before the broadcaster stops.
const (
	eventFlushLimit = 5 * time.Second
	// eventFlushIdle: with no write finishing for this long, whatever is
	// left was filtered by client-go's spam filter or dropped, and will
	// never be written.
	eventFlushIdle = time.Second
)

// eventPipeline records Events through client-go's broadcaster, with its
// correlator (which aggregates similar Events and rate-limits each object),
// and counts them so that a shutdown can wait until they are written rather
// than drop them. It sends nothing until start, so that only the leader
// writes Events and a New that fails leaves no goroutine behind.
type eventPipeline struct {
	client      kubernetes.Interface
	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder
	emitted     atomic.Int64
	written     atomic.Int64
}

func newEventPipeline(client kubernetes.Interface) *eventPipeline {
	p := &eventPipeline{client: client}
	return p
}

// Event records an Event about obj.
func (p *eventPipeline) Event(obj runtime.Object, eventType, reason, message string) {
	if p.recorder == nil {
		return
	}
	p.emitted.Add(1)
	p.recorder.Event(obj, eventType, reason, message)
}

// start begins sending Events; stop with shutdown.
func (p *eventPipeline) start(ctx context.Context) {
	p.broadcaster = record.NewBroadcaster(record.WithContext(ctx))
	p.broadcaster.StartStructuredLogging(3)
	p.broadcaster.StartRecordingToSink(&countingSink{
		EventSink: &typedcorev1.EventSinkImpl{Interface: p.client.CoreV1().Events("")},
		written:   &p.written,
	})
	p.recorder = p.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: ControllerName})
}

// shutdown waits, within bounds, for the Events recorded so far to be
// written, then stops the broadcaster.
func (p *eventPipeline) shutdown(ctx context.Context) {
	if p.broadcaster == nil {
		return
	}
	deadline := time.Now().Add(eventFlushLimit)
	last, lastChange := p.written.Load(), time.Now()
	for p.written.Load() < p.emitted.Load() && time.Now().Before(deadline) && time.Since(lastChange) < eventFlushIdle {
		time.Sleep(10 * time.Millisecond)
		if w := p.written.Load(); w != last {
			last, lastChange = w, time.Now()
		}
	}
	if left := p.emitted.Load() - p.written.Load(); left > 0 {
		klog.FromContext(ctx).V(2).Info("Events not written at shutdown", "count", left)
	}
	p.broadcaster.Shutdown()
}

// countingSink counts the Events it has written (or given up on).
type countingSink struct {
	record.EventSink
	written *atomic.Int64
}

func (s *countingSink) Create(e *corev1.Event) (*corev1.Event, error) {
	defer s.written.Add(1)
	return s.EventSink.Create(e)
}

func (s *countingSink) Update(e *corev1.Event) (*corev1.Event, error) {
	defer s.written.Add(1)
	return s.EventSink.Update(e)
}

func (s *countingSink) Patch(e *corev1.Event, data []byte) (*corev1.Event, error) {
	defer s.written.Add(1)
	return s.EventSink.Patch(e, data)
}
