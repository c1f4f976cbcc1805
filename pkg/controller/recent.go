package controller

import (
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
)

// Bounds of recentWrites. An informer delivers our writes within
// milliseconds; an entry older than recentTTL means the watch is stuck or
// the event was lost, and the cache is trusted again. The size cap keeps a
// burst of writes from growing the map without limit: past it, writes are
// simply not remembered, which costs at worst one wasted request each.
const (
	recentTTL     = time.Minute
	recentMaxSize = 20000
)

// recentWrites remembers what this controller last wrote to each object
// until its informer delivers that write. Without it, the sync that follows
// a write (the write's own watch event marks the key dirty) often still
// sees the cache from before the write, and sends a create that fails with
// AlreadyExists or an update that fails with a conflict: a wasted request
// per change, thousands at scale.
//
// The rule is one-sided: any informer event for an object that is not our
// latest write forgets it, so when in doubt the cache wins and the worst
// case is the wasted request again, never a missed change.
type recentWrites struct {
	clock   clock.PassiveClock
	mu      sync.Mutex
	written map[recentKey]recentWrite
}

type recentKey struct {
	kind, namespace, name string
}

type recentWrite struct {
	// baseVersion is the resourceVersion the cache showed before our
	// first unseen write ("" when the cache had no object): while the
	// cache still shows it, the cache is behind.
	baseVersion string
	// obj is our latest write; nil after a delete.
	obj metav1.Object
	// uid of the object deleted, for a delete.
	deletedUID types.UID
	// owner is the Mydemo that controls obj.
	owner cache.ObjectName
	at    time.Time
}

func newRecentWrites(c clock.PassiveClock) *recentWrites {
	return &recentWrites{clock: c, written: map[recentKey]recentWrite{}}
}

// remember records obj, just written by us over the cached version base
// (or over our own earlier write, which keeps the original base).
func (r *recentWrites) remember(kind, base string, owner cache.ObjectName, obj metav1.Object) {
	r.put(kind, obj.GetNamespace(), obj.GetName(), base, recentWrite{obj: obj, owner: owner})
}

// rememberDeleted records that we deleted the object the cache shows at
// version base.
func (r *recentWrites) rememberDeleted(kind string, obj metav1.Object) {
	r.put(kind, obj.GetNamespace(), obj.GetName(), obj.GetResourceVersion(), recentWrite{deletedUID: obj.GetUID()})
}

func (r *recentWrites) put(kind, namespace, name, base string, w recentWrite) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := recentKey{kind, namespace, name}
	now := r.clock.Now()
	if prev, ok := r.written[key]; ok && prev.obj != nil && prev.obj.GetResourceVersion() == base {
		base = prev.baseVersion
	}
	if _, ok := r.written[key]; !ok && len(r.written) >= recentMaxSize {
		r.expireLocked(now)
		if len(r.written) >= recentMaxSize {
			return
		}
	}
	w.baseVersion = base
	w.at = now
	r.written[key] = w
}

func (r *recentWrites) expireLocked(now time.Time) {
	for k, w := range r.written {
		if now.Sub(w.at) > recentTTL {
			delete(r.written, k)
		}
	}
}

// observed is called for every informer event: the cache now holds obj
// (or, deleted, knows it is gone). Only our latest write itself, or the
// delete of an object we replaced, keeps what we know.
func (r *recentWrites) observed(kind string, obj metav1.Object, deleted bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := recentKey{kind, obj.GetNamespace(), obj.GetName()}
	w, ok := r.written[key]
	if !ok {
		return
	}
	if deleted && w.obj != nil && w.obj.GetUID() != obj.GetUID() {
		// The object we replaced is gone from the cache; ours is not
		// there yet.
		w.baseVersion = ""
		r.written[key] = w
		return
	}
	delete(r.written, key)
}

// forgetOwner drops everything written for owner (a deleted Mydemo).
func (r *recentWrites) forgetOwner(owner cache.ObjectName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, w := range r.written {
		if w.owner == owner || (k.kind == kindMydemo && k.namespace == owner.Namespace && k.name == owner.Name) {
			delete(r.written, k)
		}
	}
}

// len is the number of remembered writes (tests).
func (r *recentWrites) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.written)
}

// created lists the objects of kind we created for owner that the cache
// does not show yet.
func (r *recentWrites) created(kind string, owner cache.ObjectName) []metav1.Object {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.clock.Now()
	var out []metav1.Object
	for k, w := range r.written {
		if k.kind == kind && w.owner == owner && w.obj != nil && w.baseVersion == "" && now.Sub(w.at) <= recentTTL {
			out = append(out, w.obj)
		}
	}
	return out
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
	if base != w.baseVersion || r.clock.Since(w.at) > recentTTL {
		// The cache moved on since our write: it knows better.
		delete(r.written, key)
		return cached, cachedFound
	}
	if w.obj == nil {
		var zero T
		return zero, false
	}
	if obj, ok := w.obj.(T); ok {
		return obj, true
	}
	return cached, cachedFound
}
