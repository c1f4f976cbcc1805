package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/controller"
	"github.com/crddemo/crddemo/pkg/generated/clientset/versioned"
	crddemoinformers "github.com/crddemo/crddemo/pkg/generated/informers/externalversions"
)

// objState is what the bench has seen of one Mydemo and its children, each
// time being when the bench's watch delivered the event.
type objState struct {
	published time.Time // first Published=True
	ready     time.Time // first Ready=True
	readyNow  bool
	service   time.Time // Service first seen
	slice     time.Time // EndpointSlice first seen

	sliceReady      *bool     // the endpoint's ready condition now
	sliceChanged    time.Time // when sliceReady last changed
	sliceFirstReady time.Time // first ready=true

	// readyFlips are the changes of Ready=True, endpointFlips those of
	// every endpoint being ready, in order: the plots' counts over time
	// come from them (one append per change, so they stay small).
	readyFlips    []flip
	endpointFlips []flip
}

// flip is one change of a state of one object, when the watch saw it.
type flip struct {
	at time.Time
	on bool
}

// tracker watches the Mydemos of one namespace and the Services and
// EndpointSlices the controller made for them, and records when each
// reached each state. Watching instead of polling with LISTs keeps the
// bench's own load on the API server small and the timestamps precise.
type tracker struct {
	mu   sync.Mutex
	objs map[string]*objState
	// lostReady counts endpoints going from ready=true to anything else.
	lostReady int

	cancel    context.CancelFunc
	factories []interface{ Shutdown() }
}

// startTracker starts the watches and waits for their initial lists.
func startTracker(ctx context.Context, kube kubernetes.Interface, client versioned.Interface, ns string) (*tracker, error) {
	t := &tracker{objs: map[string]*objState{}}
	ctx, t.cancel = context.WithCancel(ctx)

	kf := informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = controller.ManagedSelector }))
	mf := crddemoinformers.NewSharedInformerFactoryWithOptions(client, 0, crddemoinformers.WithNamespace(ns))
	t.factories = []interface{ Shutdown() }{kf, mf}

	handlers := []struct {
		informer cache.SharedIndexInformer
		on       func(any)
	}{
		{mf.Crddemo().V1().Mydemos().Informer(), t.onMydemo},
		{kf.Core().V1().Services().Informer(), t.onService},
		{kf.Discovery().V1().EndpointSlices().Informer(), t.onSlice},
	}
	for _, h := range handlers {
		on := h.on
		if _, err := h.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    on,
			UpdateFunc: func(_, newObj any) { on(newObj) },
		}); err != nil {
			t.stop()
			return nil, fmt.Errorf("watching: %w", err)
		}
	}
	kf.Start(ctx.Done())
	mf.Start(ctx.Done())
	syncCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for typ, ok := range kf.WaitForCacheSync(syncCtx.Done()) {
		if !ok {
			t.stop()
			return nil, fmt.Errorf("the bench's watch of %v did not sync", typ)
		}
	}
	for typ, ok := range mf.WaitForCacheSync(syncCtx.Done()) {
		if !ok {
			t.stop()
			return nil, fmt.Errorf("the bench's watch of %v did not sync", typ)
		}
	}
	return t, nil
}

func (t *tracker) stop() {
	t.cancel()
	for _, f := range t.factories {
		f.Shutdown()
	}
}

// get returns the state of name, creating it; t.mu must be held.
func (t *tracker) get(name string) *objState {
	s, ok := t.objs[name]
	if !ok {
		s = &objState{}
		t.objs[name] = s
	}
	return s
}

func (t *tracker) onMydemo(obj any) {
	md, ok := obj.(*crddemov1.Mydemo)
	if !ok {
		return
	}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.get(md.Name)
	if meta.IsStatusConditionTrue(md.Status.Conditions, crddemov1.ConditionPublished) && s.published.IsZero() {
		s.published = now
	}
	was := s.readyNow
	s.readyNow = meta.IsStatusConditionTrue(md.Status.Conditions, crddemov1.ConditionReady)
	if s.readyNow != was {
		s.readyFlips = append(s.readyFlips, flip{at: now, on: s.readyNow})
	}
	if s.readyNow && s.ready.IsZero() {
		s.ready = now
	}
}

func (t *tracker) onService(obj any) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return
	}
	name := svc.Labels[controller.LabelMydemo]
	if name == "" {
		return
	}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.get(name); s.service.IsZero() {
		s.service = now
	}
}

func (t *tracker) onSlice(obj any) {
	slice, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return
	}
	name := slice.Labels[controller.LabelMydemo]
	if name == "" {
		return
	}
	// A Mydemo's endpoints are ready when every endpoint of its slice is
	// (the bench's Mydemos have at most 100 endpoints: one slice).
	var ready *bool
	for _, ep := range slice.Endpoints {
		if ep.Conditions.Ready == nil {
			ready = nil
			break
		}
		v := *ep.Conditions.Ready && (ready == nil || *ready)
		ready = &v
	}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.get(name)
	if s.slice.IsZero() {
		s.slice = now
	}
	if (ready == nil) != (s.sliceReady == nil) || (ready != nil && *ready != *s.sliceReady) {
		wasOn, on := s.sliceReady != nil && *s.sliceReady, ready != nil && *ready
		if wasOn {
			t.lostReady++
		}
		if on != wasOn {
			s.endpointFlips = append(s.endpointFlips, flip{at: now, on: on})
		}
		s.sliceReady = ready
		s.sliceChanged = now
	}
	if ready != nil && *ready && s.sliceFirstReady.IsZero() {
		s.sliceFirstReady = now
	}
}

// progress counts, among names, those published (Published=True with
// Service and EndpointSlice seen), Ready=True now, and with a ready
// endpoint now.
type progress struct {
	converged, ready, endpointsReady int
}

func (p progress) String() string {
	return fmt.Sprintf("%d converged, %d Ready, %d endpoints ready", p.converged, p.ready, p.endpointsReady)
}

func (t *tracker) progress(names []string) progress {
	t.mu.Lock()
	defer t.mu.Unlock()
	var p progress
	for _, n := range names {
		s, ok := t.objs[n]
		if !ok {
			continue
		}
		if !s.published.IsZero() && !s.service.IsZero() && !s.slice.IsZero() {
			p.converged++
		}
		if s.readyNow {
			p.ready++
		}
		if s.sliceReady != nil && *s.sliceReady {
			p.endpointsReady++
		}
	}
	return p
}

// latest returns the latest of the times pick returns for names, and
// false if any of them is still zero.
func (t *tracker) latest(names []string, pick func(*objState) time.Time) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var last time.Time
	for _, n := range names {
		s, ok := t.objs[n]
		if !ok {
			return time.Time{}, false
		}
		v := pick(s)
		if v.IsZero() {
			return time.Time{}, false
		}
		if v.After(last) {
			last = v
		}
	}
	return last, true
}

func convergedTime(s *objState) time.Time {
	if s.published.IsZero() || s.service.IsZero() || s.slice.IsZero() {
		return time.Time{}
	}
	return maxTime(s.published, s.service, s.slice)
}

func readyTime(s *objState) time.Time         { return s.ready }
func endpointReadyTime(s *objState) time.Time { return s.sliceFirstReady }

func readyFlips(s *objState) []flip    { return s.readyFlips }
func endpointFlips(s *objState) []flip { return s.endpointFlips }

// countSeries is how many of names were in the state that flipsOf records,
// from `from` to `to`: a step series in seconds since from (see
// stepSeries).
func (t *tracker) countSeries(names []string, flipsOf func(*objState) []flip, from, to time.Time) []Point {
	t.mu.Lock()
	defer t.mu.Unlock()
	initial := 0
	var steps []step
	for _, n := range names {
		s, ok := t.objs[n]
		if !ok {
			continue
		}
		fs := flipsOf(s)
		// The state at from is that of the last flip at or before it.
		i, on := 0, false
		for ; i < len(fs) && !fs[i].at.After(from); i++ {
			on = fs[i].on
		}
		if on {
			initial++
		}
		for _, f := range fs[i:] {
			if f.at.After(to) {
				break
			}
			if f.on == on {
				continue
			}
			d := 1
			if !f.on {
				d = -1
			}
			steps = append(steps, step{at: f.at.Sub(from).Seconds(), delta: d})
			on = f.on
		}
	}
	return stepSeries(initial, steps, to.Sub(from).Seconds(), seriesBuckets)
}

// readyLosses returns how many times an endpoint stopped being ready.
func (t *tracker) readyLosses() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lostReady
}

// endpoint returns the current ready condition of name's endpoint and when
// it last changed.
func (t *tracker) endpoint(name string) (ready *bool, changed time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.objs[name]
	if !ok {
		return nil, time.Time{}
	}
	return s.sliceReady, s.sliceChanged
}

func maxTime(ts ...time.Time) time.Time {
	var m time.Time
	for _, t := range ts {
		if t.After(m) {
			m = t
		}
	}
	return m
}
