package resolve

import (
	"container/heap"
	"time"
)

// Fairness between tenants, as in the probe engine.
//
// Every namespace has a due queue of its own and may hold at most its fair
// share of the lookup slots at once: ceil(Concurrency / namespaces with
// hostnames), and never more than Concurrency in all. The scheduler starts
// a due lookup of a namespace below its share, within a namespace the most
// overdue first. A tenant whose names point at a zone that never answers
// fills its own share with lookups that end only by Timeout, and waits
// behind itself; every other namespace keeps its slots.
//
// A namespace that had the resolver to itself may hold every slot; when
// another namespace arrives, the lookups it holds beyond its new share are
// cancelled and queued again at once (their result is dropped, it says
// nothing about the name), so the newcomer's first answer does not wait
// for the hanging lookups to time out.
//
// The shares are rounded up so that every slot can be used, which means
// the namespaces at their share may hold every slot between them; with
// more namespaces than slots every share is one. A free slot therefore
// goes to the namespace with the fewest lookups in flight, and among
// those to the one served least recently: a namespace is stamped with a
// running count when it starts a lookup, and one never served has the
// oldest stamp (between two never served, the more overdue goes first).
// Giving the slot to the most overdue name instead starved namespaces: a
// hostile backlog of hanging names is always older than anyone else's
// name, and a namespace drops to none in flight whenever its lookup ends,
// so it took back every slot it gave up. With the stamps, a namespace
// served while another with as few lookups in flight waits goes behind
// it, so a namespace with none in flight waits for at most one start by
// every other namespace. Every slot frees within Timeout, so its due
// lookup starts within ceil(namespaces / Concurrency) × Timeout.
//
// Entries leave their queue when their name is dropped, and are only ever
// taken out of it when a slot is free for them: a name that is gone is
// never looked up again.

// nsQueue is the schedule of one namespace.
type nsQueue struct {
	name string
	due  dueQueue
	// entries counts the names of this namespace, queued or in flight;
	// inFlight those being looked up, which flying holds, so that lookups
	// beyond the share can be taken back.
	entries  int
	inFlight int
	flying   map[*entry]struct{}
	// served is Resolver.started when this namespace last started a
	// lookup; zero if it never did.
	served uint64
	// in is Resolver.ready when the namespace is below its share and its
	// earliest lookup is due, Resolver.waiting when that lookup is not due
	// yet, and nil otherwise; index is the position there.
	in    *nsHeap
	index int
}

// dueQueue is a min-heap of entries ordered by due time.
type dueQueue []*entry

var _ heap.Interface = (*dueQueue)(nil)

func (q dueQueue) Len() int { return len(q) }

func (q dueQueue) Less(i, j int) bool { return q[i].next.Before(q[j].next) }

func (q dueQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index = i
	q[j].index = j
}

func (q *dueQueue) Push(x any) {
	e := x.(*entry)
	e.index = len(*q)
	*q = append(*q, e)
}

func (q *dueQueue) Pop() any {
	old := *q
	last := len(old) - 1
	e := old[last]
	// A forgotten entry must not stay reachable from the array.
	old[last] = nil
	e.index = -1
	*q = old[:last]
	return e
}

// nsHeap is a min-heap of namespaces under less. A namespace is in at
// most one nsHeap at a time: nsQueue.in says which.
type nsHeap struct {
	items []*nsQueue
	less  func(a, b *nsQueue) bool
}

var _ heap.Interface = (*nsHeap)(nil)

func (h *nsHeap) Len() int { return len(h.items) }

func (h *nsHeap) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }

func (h *nsHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].index = i
	h.items[j].index = j
}

func (h *nsHeap) Push(x any) {
	q := x.(*nsQueue)
	q.in, q.index = h, len(h.items)
	h.items = append(h.items, q)
}

func (h *nsHeap) Pop() any {
	last := len(h.items) - 1
	q := h.items[last]
	h.items[last] = nil
	q.in, q.index = nil, -1
	h.items = h.items[:last]
	return q
}

// fewestInFlight orders the ready namespaces: the one with the fewest
// lookups in flight first, so a namespace that has none gets the next
// free slot; then the one served least recently, so that no namespace
// gets a slot twice while another waits; then the most overdue.
func fewestInFlight(a, b *nsQueue) bool {
	if a.inFlight != b.inFlight {
		return a.inFlight < b.inFlight
	}
	if a.served != b.served {
		return a.served < b.served
	}
	return a.due[0].next.Before(b.due[0].next)
}

// earliestDue orders the waiting namespaces by when their next lookup
// falls due.
func earliestDue(a, b *nsQueue) bool { return a.due[0].next.Before(b.due[0].next) }

// shareLocked is the most slots one namespace may hold.
func (r *Resolver) shareLocked() int {
	n := len(r.namespaces)
	if n <= 1 {
		return r.concurrency
	}
	return (r.concurrency + n - 1) / n
}

// namespaceLocked returns the queue of namespace, creating it. A new
// namespace lowers everyone's share, so lookups beyond it are taken back.
func (r *Resolver) namespaceLocked(namespace string) *nsQueue {
	q, ok := r.namespaces[namespace]
	if !ok {
		q = &nsQueue{name: namespace, index: -1, flying: map[*entry]struct{}{}}
		r.namespaces[namespace] = q
		r.preemptOverShareLocked()
	}
	return q
}

// preemptOverShareLocked cancels the lookups each namespace holds beyond
// its share. A cancelled lookup gives its slot back as soon as it returns,
// which Go's resolver does at once.
func (r *Resolver) preemptOverShareLocked() {
	share := r.shareLocked()
	for _, q := range r.namespaces {
		keep := 0
		for e := range q.flying {
			if !e.preempted && !e.removed {
				keep++
			}
		}
		for e := range q.flying {
			if keep <= share {
				break
			}
			if e.preempted || e.removed {
				continue
			}
			e.preempted = true
			e.cancel()
			keep--
		}
	}
}

// fixNamespaceLocked puts q into the heap it belongs in, moves it there,
// or takes it out, after its queue or its slot count changed.
func (r *Resolver) fixNamespaceLocked(q *nsQueue) {
	var want *nsHeap
	if len(q.due) > 0 && q.inFlight < r.shareLocked() {
		want = &r.ready
		if q.due[0].next.After(r.clock.Now()) {
			want = &r.waiting
		}
	}
	switch {
	case q.in == want && want != nil:
		heap.Fix(want, q.index)
	case q.in == want:
	default:
		if q.in != nil {
			heap.Remove(q.in, q.index)
		}
		if want != nil {
			heap.Push(want, q)
		}
	}
}

// dropNamespaceIfEmptyLocked forgets a namespace without names or lookups
// in flight. Everyone's share grows, so every namespace is looked at again.
func (r *Resolver) dropNamespaceIfEmptyLocked(q *nsQueue) {
	if q.entries > 0 || q.inFlight > 0 || r.namespaces[q.name] != q {
		return
	}
	if q.in != nil {
		heap.Remove(q.in, q.index)
	}
	delete(r.namespaces, q.name)
	for _, other := range r.namespaces {
		r.fixNamespaceLocked(other)
	}
	r.nudge()
}

// queueLocked puts e into its namespace's due queue.
func (r *Resolver) queueLocked(e *entry) {
	heap.Push(&e.ns.due, e)
	r.fixNamespaceLocked(e.ns)
}

// unqueueLocked takes e out of its namespace's due queue, if it is there.
func (r *Resolver) unqueueLocked(e *entry) {
	if e.index < 0 {
		return
	}
	heap.Remove(&e.ns.due, e.index)
	r.fixNamespaceLocked(e.ns)
}

// requeueAtLocked moves e to a new due time; an entry in flight gets its
// next due time when its lookup ends.
func (r *Resolver) requeueAtLocked(e *entry, next time.Time) {
	if e.index < 0 {
		return
	}
	e.next = next
	heap.Fix(&e.ns.due, e.index)
	r.fixNamespaceLocked(e.ns)
}

// popDueLocked takes the next entry to look up, if one is due and a slot
// is free, and counts it in flight: from the first ready namespace (see
// fewestInFlight), its most overdue entry. Otherwise it returns
// when the earliest entry below its namespace's share falls due, and
// whether there is one.
func (r *Resolver) popDueLocked(now time.Time) (e *entry, due time.Time, pending bool) {
	for r.waiting.Len() > 0 && !r.waiting.items[0].due[0].next.After(now) {
		heap.Push(&r.ready, heap.Pop(&r.waiting))
	}
	share := r.shareLocked()
	for r.ready.Len() > 0 {
		q := r.ready.items[0]
		if q.inFlight >= share {
			// Its share shrank since it was queued.
			heap.Pop(&r.ready)
			continue
		}
		if r.inFlight >= r.concurrency {
			// doneLocked nudges the scheduler when a slot frees.
			return nil, time.Time{}, false
		}
		head := heap.Pop(&q.due).(*entry)
		q.inFlight++
		q.flying[head] = struct{}{}
		r.inFlight++
		r.started++
		q.served = r.started
		r.fixNamespaceLocked(q)
		return head, time.Time{}, true
	}
	if r.waiting.Len() > 0 {
		return nil, r.waiting.items[0].due[0].next, true
	}
	return nil, time.Time{}, false
}

// doneLocked gives back the slot e held. Its namespace, or another, may be
// below its share again, so the scheduler is nudged.
func (r *Resolver) doneLocked(e *entry) {
	delete(e.ns.flying, e)
	e.ns.inFlight--
	r.inFlight--
	r.fixNamespaceLocked(e.ns)
	r.dropNamespaceIfEmptyLocked(e.ns)
	r.nudge()
}
