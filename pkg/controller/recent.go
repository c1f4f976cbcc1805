package controller

import (
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// recentWrites remembers what this controller last wrote to each object
// until its informer delivers an event for that object. Without it, the
// sync that follows a write (the write's own watch event marks the key
// dirty) often still sees the cache from before the write, and sends a
// create that fails with AlreadyExists or an update that fails with a
// conflict: a wasted request per change, thousands at scale.
//
// The rule is deliberately one-sided: any informer event for an object
// forgets it, so when in doubt the cache wins and the worst case is the
// wasted request again, never a missed change.
type recentWrites struct {
	mu      sync.Mutex
	written map[recentKey]recentWrite
}

type recentKey struct {
	kind, namespace, name string
}

type recentWrite struct {
	// baseVersion is the resourceVersion the cache showed when we wrote
	// ("" for a create): while the cache still shows it, it is behind.
	baseVersion string
	obj         metav1.Object
}

func newRecentWrites() *recentWrites {
	return &recentWrites{written: map[recentKey]recentWrite{}}
}

// remember records obj, just written by us over the cached version base.
func (r *recentWrites) remember(kind, base string, obj metav1.Object) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.written[recentKey{kind, obj.GetNamespace(), obj.GetName()}] = recentWrite{baseVersion: base, obj: obj}
}

// forget drops what we know about an object: its informer caught up.
func (r *recentWrites) forget(kind, namespace, name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.written, recentKey{kind, namespace, name})
}

// len is the number of remembered writes (tests).
func (r *recentWrites) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.written)
}

// freshest returns our own last write of an object if the cache has not
// caught up with it yet, and otherwise the cached object. found reports
// whether the object exists as far as we know.
func freshest[T metav1.Object](r *recentWrites, kind, namespace, name string, cached T, cachedFound bool) (T, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := recentKey{kind, namespace, name}
	w, ok := r.written[key]
	if !ok {
		return cached, cachedFound
	}
	base := ""
	if cachedFound {
		base = cached.GetResourceVersion()
	}
	if base != w.baseVersion {
		// The cache moved on since our write: it knows better.
		delete(r.written, key)
		return cached, cachedFound
	}
	if obj, ok := w.obj.(T); ok {
		return obj, true
	}
	return cached, cachedFound
}
