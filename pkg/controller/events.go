package controller

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/tools/reference"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	crddemoscheme "github.com/crddemo/crddemo/pkg/generated/clientset/versioned/scheme"
)

// Bounds of the flush of Events on shutdown: the Events of the last syncs
// get this long to reach the API server before the broadcaster stops.
const (
	eventFlushLimit = 5 * time.Second
	// eventFlushIdle: with no write finishing for this long, whatever is
	// left is stuck behind an API server that does not answer, and will
	// not be written before the process ends.
	eventFlushIdle = time.Second
	// eventGiveUpIdle: with no write finishing for this long, Events still
	// counted in flight will never be written either: client-go retries a
	// write that failed for want of the API server for about two minutes
	// (12 tries 10 s apart), then drops it without a word. They stop
	// counting as unwritten, so the gauge returns to 0 once all is quiet.
	eventGiveUpIdle = 2 * time.Minute
)

// client-go's correlator drops an object's Events beyond a burst of 25
// (then one per 5 minutes per object and type) without telling anyone, so
// an Event it dropped would count as unwritten forever. The pipeline
// applies the same limit itself, with client-go's own filter, before it
// hands an Event over, and opens the correlator's: every Event handed to
// the broadcaster then reaches the sink.
const (
	eventSpamBurst = 25
	eventSpamQPS   = 1. / 300.
	eventSpamKeys  = 4096
)

// client-go's broadcaster holds at most 1,000 Events and drops the rest
// when its sink falls behind, which an outage of thousands of Mydemos
// does: their Events are recorded in a second and written at the Event
// client's QPS. So the pipeline keeps Events in a queue of its own and
// hands the broadcaster only eventsInFlight at a time; what does not fit
// in maxPendingEvents is dropped and counted, never silently.
const (
	eventsInFlight   = 500
	maxPendingEvents = 100_000
)

// eventPipeline records Events through client-go's broadcaster, with its
// correlator (which aggregates similar Events and rate-limits each object),
// and counts them so that a burst waits its turn instead of overflowing
// the broadcaster, and a shutdown can wait until they are written rather
// than drop them. It sends nothing until start, so that only the leader
// writes Events and a New that fails leaves no goroutine behind.
type eventPipeline struct {
	client kubernetes.Interface
	// scheme knows the Mydemo kind, which Events refer to. It is the
	// pipeline's own, filled once when it is made and only read after:
	// registering into client-go's shared scheme.Scheme at run time
	// races with every other recorder in the process reading it.
	scheme      *runtime.Scheme
	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder
	emitted     atomic.Int64 // handed to the broadcaster
	written     atomic.Int64 // written by the sink (or given up on)
	dropped     atomic.Int64 // past maxPendingEvents
	// direct, if set, receives every Event synchronously (tests).
	direct record.EventRecorder
	// giveUpIdle is eventGiveUpIdle, shorter in tests.
	giveUpIdle time.Duration

	// spam is the per-object rate limit (see eventSpamBurst); only the
	// feed uses it.
	spam *record.EventSourceObjectSpamFilter

	mu      sync.Mutex
	pending []pendingEvent
	wake    chan struct{}
	done    chan struct{}
}

type pendingEvent struct {
	obj                        runtime.Object
	eventType, reason, message string
}

func newEventPipeline(client kubernetes.Interface) *eventPipeline {
	s := runtime.NewScheme()
	utilruntime.Must(crddemoscheme.AddToScheme(s))
	return &eventPipeline{client: client, scheme: s, wake: make(chan struct{}, 1), giveUpIdle: eventGiveUpIdle}
}

// recordDirectly makes Event hand every Event to r at once, with no queue
// and no broadcaster (unit tests).
func (p *eventPipeline) recordDirectly(r record.EventRecorder) {
	p.direct = r
}

// Event records an Event about obj.
func (p *eventPipeline) Event(obj runtime.Object, eventType, reason, message string) {
	if p.direct != nil {
		p.direct.Event(obj, eventType, reason, message)
		return
	}
	p.mu.Lock()
	if p.done == nil {
		p.mu.Unlock()
		return
	}
	if len(p.pending) >= maxPendingEvents {
		p.mu.Unlock()
		if n := p.dropped.Add(1); n == 1 || n%1000 == 0 {
			klog.Background().Info("Dropping Events: too many waiting to be written", "dropped", n, "limit", maxPendingEvents)
		}
		return
	}
	p.pending = append(p.pending, pendingEvent{obj, eventType, reason, message})
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// start begins sending Events; stop with shutdown.
func (p *eventPipeline) start(ctx context.Context) {
	p.broadcaster = record.NewBroadcaster(record.WithContext(ctx), record.WithCorrelatorOptions(record.CorrelatorOptions{
		// The pipeline rate-limits each object itself (p.spam); the
		// correlator's own limit would drop Events unseen.
		BurstSize: math.MaxInt32,
		QPS:       math.MaxFloat32,
	}))
	p.spam = record.NewEventSourceObjectSpamFilter(eventSpamKeys, eventSpamBurst, eventSpamQPS, clock.RealClock{}, spamKey)
	p.broadcaster.StartStructuredLogging(3)
	p.broadcaster.StartRecordingToSink(&countingSink{
		EventSink: &typedcorev1.EventSinkImpl{Interface: p.client.CoreV1().Events("")},
		written:   &p.written,
		emitted:   &p.emitted,
		wake:      p.wake,
	})
	p.recorder = p.broadcaster.NewRecorder(p.scheme, corev1.EventSource{Component: ControllerName})
	p.mu.Lock()
	p.done = make(chan struct{})
	p.mu.Unlock()
	go p.feed(p.done)
}

// feed hands pending Events to the broadcaster while fewer than
// eventsInFlight are unwritten, until done is closed and nothing is left.
func (p *eventPipeline) feed(done chan struct{}) {
	last, lastChange := p.written.Load(), time.Now()
	for {
		if w := p.written.Load(); w != last {
			last, lastChange = w, time.Now()
		} else if inFlight := p.emitted.Load() - w; inFlight > 0 {
			idle := time.Since(lastChange)
			// The sink has written nothing for a while with Events in
			// flight: their writes keep failing. Count them as given up:
			// at once when the feed would otherwise stall, and in any
			// case once client-go can no longer be retrying them.
			if (inFlight >= eventsInFlight && idle >= eventFlushIdle) || idle >= p.giveUpIdle {
				p.written.Store(p.emitted.Load())
			}
		}
		p.mu.Lock()
		for len(p.pending) > 0 && p.emitted.Load()-p.written.Load() < eventsInFlight {
			e := p.pending[0]
			p.pending[0] = pendingEvent{}
			p.pending = p.pending[1:]
			if p.limited(e) {
				continue
			}
			p.emitted.Add(1)
			p.recorder.Event(e.obj, e.eventType, e.reason, e.message)
		}
		if len(p.pending) == 0 {
			p.pending = nil // let a burst's backing array go
		}
		p.mu.Unlock()
		select {
		case <-p.wake:
		case <-done:
			return
		case <-time.After(100 * time.Millisecond):
			// client-go may drop an Event after its last retry without
			// calling the sink again; the sink's count would then never
			// catch up, so re-check now and then rather than wait for it.
		}
	}
}

// limited applies the per-object rate limit to e, as client-go's
// correlator would have: true drops it.
func (p *eventPipeline) limited(e pendingEvent) bool {
	ref, err := reference.GetReference(p.scheme, e.obj)
	if err != nil {
		return false // the recorder will fail it the same way
	}
	return p.spam.Filter(&corev1.Event{InvolvedObject: *ref, Type: e.eventType})
}

// spamKey groups Events for the rate limit as client-go does: by object
// and type (one source writes them all).
func spamKey(e *corev1.Event) string {
	o := e.InvolvedObject
	return strings.Join([]string{o.Kind, o.Namespace, o.Name, string(o.UID), o.APIVersion, e.Type}, "/")
}

// unwritten is the number of Events recorded and not yet written.
func (p *eventPipeline) unwritten() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return int64(len(p.pending)) + p.emitted.Load() - p.written.Load()
}

// shutdown waits, within bounds, for the Events recorded so far to be
// written, then stops the broadcaster.
func (p *eventPipeline) shutdown(ctx context.Context) {
	if p.broadcaster == nil {
		return
	}
	deadline := time.Now().Add(eventFlushLimit)
	last, lastChange := p.written.Load(), time.Now()
	for p.unwritten() > 0 && time.Now().Before(deadline) && time.Since(lastChange) < eventFlushIdle {
		time.Sleep(10 * time.Millisecond)
		if w := p.written.Load(); w != last {
			last, lastChange = w, time.Now()
		}
	}
	p.mu.Lock()
	close(p.done)
	p.done = nil
	p.mu.Unlock()
	if left := p.unwritten(); left > 0 {
		klog.FromContext(ctx).V(2).Info("Events not written at shutdown", "count", left)
	}
	p.broadcaster.Shutdown()
}

// countingSink counts the Events it has written.
type countingSink struct {
	record.EventSink
	written, emitted *atomic.Int64
	wake             chan<- struct{}
}

// count records one Event done with: written, or refused for good.
// client-go calls the sink once per attempt: it retries a write that
// failed for want of the API server, turns a patch of a gone Event into a
// create, and gives up at once on an Event the API server refused (its
// namespace is being deleted, say). So a success counts, and so does a
// refusal, but not a transport error or a patch's NotFound; and never
// beyond what was handed to the broadcaster: the feed may already have
// given up on it.
func (s *countingSink) count(err error, patch bool) {
	if err != nil && !final(err, patch) {
		return
	}
	for {
		w := s.written.Load()
		if w >= s.emitted.Load() || s.written.CompareAndSwap(w, w+1) {
			break
		}
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// final reports whether client-go gives up on an Event after err, as its
// recordEvent decides: a request it cannot build, or any refusal by the
// API server, except the NotFound of a patch, which it follows with a
// create.
func final(err error, patch bool) bool {
	var construction *rest.RequestConstructionError
	if errors.As(err, &construction) {
		return true
	}
	var status *apierrors.StatusError
	if !errors.As(err, &status) {
		return false
	}
	return !patch || !apierrors.IsNotFound(err)
}

func (s *countingSink) Create(e *corev1.Event) (*corev1.Event, error) {
	out, err := s.EventSink.Create(e)
	s.count(err, false)
	return out, err
}

func (s *countingSink) Update(e *corev1.Event) (*corev1.Event, error) {
	out, err := s.EventSink.Update(e)
	s.count(err, false)
	return out, err
}

func (s *countingSink) Patch(e *corev1.Event, data []byte) (*corev1.Event, error) {
	out, err := s.EventSink.Patch(e, data)
	s.count(err, true)
	return out, err
}
