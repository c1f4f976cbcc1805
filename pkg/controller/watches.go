package controller

import (
	"context"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// maxConflictWatches bounds the watches held open at once. Past it, a
// conflicted Mydemo falls back to retrying with backoff.
const maxConflictWatches = 5000

// conflictWatches watches the foreign objects that block Mydemos. Our
// informers see only objects carrying our label, so without this a Mydemo
// in conflict would have to poll the foreign object to learn that it is
// gone. One watch per blocking object, on that object's name alone, costs
// the API server one long-running request (renewed when the server ends
// it, every half hour or so) instead of a GET per retry, and reports the
// deletion at once.
type conflictWatches struct {
	client  kubernetes.Interface
	enqueue func(cache.ObjectName)

	mu sync.Mutex
	// ctx is the controller's run context; nil before Run.
	ctx     context.Context
	running map[watchKey]*runningWatch
}

type runningWatch struct {
	cancel context.CancelFunc
}

type watchKey struct {
	owner      cache.ObjectName
	kind, name string
}

func newConflictWatches(client kubernetes.Interface, enqueue func(cache.ObjectName)) *conflictWatches {
	return &conflictWatches{client: client, enqueue: enqueue, running: map[watchKey]*runningWatch{}}
}

// run makes ctx the parent of every watch, until it is done.
func (w *conflictWatches) run(ctx context.Context) {
	w.mu.Lock()
	w.ctx = ctx
	w.mu.Unlock()
	<-ctx.Done()
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, rw := range w.running {
		rw.cancel()
		delete(w.running, k)
	}
	w.ctx = nil
}

// watching reports whether a watch on kind/name blocks owner.
func (w *conflictWatches) watching(owner cache.ObjectName, kind, name string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.running[watchKey{owner, kind, name}]
	return ok
}

// start watches kind namespace/name from resourceVersion and enqueues owner
// when the object changes or the watch ends. It does nothing when that
// watch runs already, before Run, or past the limit.
func (w *conflictWatches) start(owner cache.ObjectName, kind, namespace, name, resourceVersion string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	k := watchKey{owner, kind, name}
	if _, ok := w.running[k]; ok || w.ctx == nil || len(w.running) >= maxConflictWatches {
		return
	}
	ctx, cancel := context.WithCancel(w.ctx)
	rw := &runningWatch{cancel: cancel}
	w.running[k] = rw
	go w.watch(ctx, rw, k, namespace, resourceVersion)
}

func (w *conflictWatches) watch(ctx context.Context, rw *runningWatch, k watchKey, namespace, resourceVersion string) {
	defer func() {
		// A watch ended by stop or by the controller stopping is not
		// followed by an enqueue; one that saw a change, or that the
		// server ended, is.
		w.mu.Lock()
		mine := w.running[k] == rw && w.ctx != nil && w.ctx.Err() == nil
		if w.running[k] == rw {
			delete(w.running, k)
		}
		w.mu.Unlock()
		rw.cancel()
		if mine {
			w.enqueue(k.owner)
		}
	}()
	opts := metav1.ListOptions{
		FieldSelector:   fields.OneTermEqualSelector("metadata.name", k.name).String(),
		ResourceVersion: resourceVersion,
	}
	var (
		wi  watch.Interface
		err error
	)
	switch k.kind {
	case kindService:
		wi, err = w.client.CoreV1().Services(namespace).Watch(ctx, opts)
	default:
		wi, err = w.client.DiscoveryV1().EndpointSlices(namespace).Watch(ctx, opts)
	}
	if err != nil {
		klog.FromContext(ctx).V(4).Info("Cannot watch conflicting object", "kind", k.kind, "object", klog.KRef(namespace, k.name), "err", err)
		return
	}
	defer wi.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-wi.ResultChan():
			if !ok || ev.Type != watch.Bookmark {
				return
			}
		}
	}
}

// stop ends every watch that blocks owner.
func (w *conflictWatches) stop(owner cache.ObjectName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, rw := range w.running {
		if k.owner == owner {
			rw.cancel()
			delete(w.running, k)
		}
	}
}
