package probe

import (
	"container/heap"
	"time"
)

// Fairness between tenants.
//
// Every namespace has a due queue of its own, and a namespace may hold at
// most its fair share of the probe slots at once: share = ceil(Concurrency
// / namespaces with targets). A tenant that points many Mydemos at
// black-holed addresses with a long timeout therefore fills its own share
// and waits behind itself, while every other namespace keeps its slots:
// its probes start on time as long as its own share suffices for its own
// targets.
//
// A namespace that had the engine to itself may hold every slot; when
// another namespace arrives, the probes it holds beyond its new share are
// cancelled and queued again at once (their result is dropped, not counted
// as a failure), so a tenant that was first cannot keep the slots for the
// length of its timeouts.
//
// The shares are rounded up so that every slot can be used, which means
// the namespaces at their share may hold every slot between them; with
// more namespaces than slots every share is one. A slot is therefore
// given out only once it is free, and then to the namespace with a due
// probe and the fewest probes in flight, among those to the one served
// least recently: a namespace is stamped with a running count when it
// starts a probe, and one never served has the oldest stamp (between two
// never served, the more overdue goes first). Within a namespace the most
// overdue probe goes first. Giving the slot to the most overdue probe of
// all instead starved namespaces: a hostile backlog of black-holed targets
// is always older than anyone else's, and a namespace drops to none in
// flight whenever its probe ends, so it took back every slot it gave up.
// With the stamps, a namespace served while another with as few probes in
// flight waits goes behind it, so a namespace with none in flight waits
// for at most one start by every other namespace. Every slot frees within
// the longest Timeout of any target, so its due probe starts within
// ceil(namespaces / Concurrency) × that timeout.
//
// The price is that the share is not lent out while several namespaces
// have targets: with two namespaces, one of them idle, the busy one uses
// half the slots. Size Concurrency for the busiest namespace (see
// docs/architecture.md).

// nsQueue is the schedule of one namespace.
type nsQueue struct {
	name string
	due  dueQueue
	// targets is the number of entries of this namespace, in the queue or
	// in flight; inFlight those taken out to be probed.
	targets  int
	inFlight int
	// flying holds the entries in flight, so that probes beyond the share
	// can be taken back.
	flying map[*entry]struct{}
	// served is Prober.started when this namespace last started a probe;
	// zero if it never did.
	served uint64
	// in is Prober.ready when the namespace is below its share and its
	// earliest probe is due, Prober.waiting when that probe is not due
	// yet, and nil otherwise; index is the position there.
	in    *nsHeap
	index int
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
// probes in flight first, so a namespace that has none gets the next
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

// earliestDue orders the waiting namespaces by when their next probe
// falls due.
func earliestDue(a, b *nsQueue) bool { return a.due[0].next.Before(b.due[0].next) }

// shareLocked is the most slots one namespace may hold.
func (p *Prober) shareLocked() int {
	n := len(p.namespaces)
	if n <= 1 {
		return p.concurrency
	}
	return (p.concurrency + n - 1) / n
}

// namespaceLocked returns the queue of namespace, creating it. A new
// namespace lowers everyone's share; namespaces above it leave the ready
// heap when the scheduler next looks at them.
func (p *Prober) namespaceLocked(namespace string) *nsQueue {
	q, ok := p.namespaces[namespace]
	if !ok {
		q = &nsQueue{name: namespace, index: -1, flying: make(map[*entry]struct{})}
		p.namespaces[namespace] = q
		p.preemptOverShareLocked()
	}
	return q
}

// preemptOverShareLocked cancels the probes each namespace holds beyond
// its share. A cancelled probe gives its slot back when its checker
// returns, which is at once: every Checker ends with its context.
func (p *Prober) preemptOverShareLocked() {
	share := p.shareLocked()
	for _, q := range p.namespaces {
		if q.inFlight <= share {
			continue
		}
		keep := 0
		for e := range q.flying {
			if !e.preempted {
				keep++
			}
		}
		for e := range q.flying {
			if keep <= share {
				break
			}
			if e.preempted {
				continue
			}
			e.preempted = true
			if e.cancel != nil {
				e.cancel()
			}
			keep--
		}
	}
}

// fixNamespaceLocked puts q into the heap it belongs in, moves it there,
// or takes it out, after its queue or its slot count changed.
func (p *Prober) fixNamespaceLocked(q *nsQueue) {
	var want *nsHeap
	if len(q.due) > 0 && q.inFlight < p.shareLocked() {
		want = &p.ready
		if q.due[0].next.After(p.clock.Now()) {
			want = &p.waiting
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

// dropNamespaceIfEmptyLocked forgets a namespace without targets or
// probes in flight. Everyone's share grows, so every namespace is looked
// at again; that costs one pass over the namespaces, only when one goes.
func (p *Prober) dropNamespaceIfEmptyLocked(q *nsQueue) {
	if q.targets > 0 || q.inFlight > 0 || p.namespaces[q.name] != q {
		return
	}
	if q.in != nil {
		heap.Remove(q.in, q.index)
	}
	delete(p.namespaces, q.name)
	for _, other := range p.namespaces {
		p.fixNamespaceLocked(other)
	}
	p.nudge()
}

// queueLocked puts e into its namespace's due queue.
func (p *Prober) queueLocked(e *entry) {
	heap.Push(&e.ns.due, e)
	p.fixNamespaceLocked(e.ns)
}

// unqueueLocked takes e out of its namespace's due queue, if it is there.
func (p *Prober) unqueueLocked(e *entry) {
	if e.index < 0 {
		return
	}
	heap.Remove(&e.ns.due, e.index)
	p.fixNamespaceLocked(e.ns)
}

// requeueAtLocked moves a queued e to a new due time.
func (p *Prober) requeueAtLocked(e *entry, next time.Time) {
	e.next = next
	if e.index >= 0 {
		heap.Fix(&e.ns.due, e.index)
		p.fixNamespaceLocked(e.ns)
	}
}

// popDueLocked takes the next entry to probe, if one is due and a slot is
// free, and counts it in flight: from the first ready namespace (see
// fewestInFlight), its most overdue entry. Otherwise it returns when the
// earliest entry below its namespace's share falls due, and whether there
// is one. The slot is chosen only once it is free, not while the
// scheduler waits for a worker, so that the namespace first in line when
// a probe ends is the one that gets its slot.
func (p *Prober) popDueLocked(now time.Time) (e *entry, due time.Time, pending bool) {
	for p.waiting.Len() > 0 && !p.waiting.items[0].due[0].next.After(now) {
		heap.Push(&p.ready, heap.Pop(&p.waiting))
	}
	share := p.shareLocked()
	for p.ready.Len() > 0 {
		q := p.ready.items[0]
		if q.inFlight >= share {
			// Its share shrank since it was queued.
			heap.Pop(&p.ready)
			continue
		}
		if p.inFlight >= p.concurrency {
			// doneLocked nudges the scheduler when a slot frees.
			return nil, time.Time{}, false
		}
		head := heap.Pop(&q.due).(*entry)
		q.inFlight++
		q.flying[head] = struct{}{}
		p.inFlight++
		p.started++
		q.served = p.started
		head.last = head.next
		p.fixNamespaceLocked(q)
		return head, time.Time{}, true
	}
	if p.waiting.Len() > 0 {
		return nil, p.waiting.items[0].due[0].next, true
	}
	return nil, time.Time{}, false
}

// doneLocked gives back the slot e held. Its namespace may be below its
// share again, so the scheduler is nudged.
func (p *Prober) doneLocked(e *entry) {
	delete(e.ns.flying, e)
	e.ns.inFlight--
	p.inFlight--
	p.fixNamespaceLocked(e.ns)
	p.dropNamespaceIfEmptyLocked(e.ns)
	p.nudge()
}
