package probe

import (
	"container/heap"
	"time"
)

// Fairness between tenants.
//
// Every namespace has a due queue of its own, and a namespace may hold at
// most its fair share of the probe slots at once: share = ceil(Concurrency
// / namespaces with targets). The scheduler always starts the most overdue
// probe among the namespaces below their share. A tenant that points many
// Mydemos at black-holed addresses with a long timeout therefore fills its
// own share and waits behind itself, while every other namespace keeps
// its slots: its probes start on time as long as its own share suffices
// for its own targets.
//
// A namespace that had the engine to itself may hold every slot; when
// another namespace arrives, the probes it holds beyond its new share are
// cancelled and queued again at once (their result is dropped, not counted
// as a failure), so a tenant that was first cannot keep the slots for the
// length of its timeouts.
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
	// index is the position in Prober.ready, or -1 when the namespace has
	// nothing queued or has used up its share.
	index int
}

// readyQueue is a min-heap of namespaces ordered by the due time of their
// earliest entry.
type readyQueue []*nsQueue

var _ heap.Interface = (*readyQueue)(nil)

func (q readyQueue) Len() int { return len(q) }

func (q readyQueue) Less(i, j int) bool { return q[i].due[0].next.Before(q[j].due[0].next) }

func (q readyQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index = i
	q[j].index = j
}

func (q *readyQueue) Push(x any) {
	n := x.(*nsQueue)
	n.index = len(*q)
	*q = append(*q, n)
}

func (q *readyQueue) Pop() any {
	old := *q
	last := len(old) - 1
	n := old[last]
	old[last] = nil
	n.index = -1
	*q = old[:last]
	return n
}

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

// fixNamespaceLocked puts q into the ready heap, moves it, or takes it
// out, after its queue or its slot count changed.
func (p *Prober) fixNamespaceLocked(q *nsQueue) {
	eligible := len(q.due) > 0 && q.inFlight < p.shareLocked()
	switch {
	case eligible && q.index < 0:
		heap.Push(&p.ready, q)
	case eligible:
		heap.Fix(&p.ready, q.index)
	case q.index >= 0:
		heap.Remove(&p.ready, q.index)
	}
}

// dropNamespaceIfEmptyLocked forgets a namespace without targets or
// probes in flight. Everyone's share grows, so every namespace is looked
// at again; that costs one pass over the namespaces, only when one goes.
func (p *Prober) dropNamespaceIfEmptyLocked(q *nsQueue) {
	if q.targets > 0 || q.inFlight > 0 || p.namespaces[q.name] != q {
		return
	}
	if q.index >= 0 {
		heap.Remove(&p.ready, q.index)
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

// popDueLocked takes the most overdue entry of the namespaces below their
// share, if it is due, and counts it in flight. Otherwise it returns when
// the earliest such entry falls due, and whether there is one.
func (p *Prober) popDueLocked(now time.Time) (e *entry, due time.Time, pending bool) {
	share := p.shareLocked()
	for len(p.ready) > 0 {
		q := p.ready[0]
		if q.inFlight >= share {
			// Its share shrank since it was queued.
			heap.Pop(&p.ready)
			continue
		}
		head := q.due[0]
		if head.next.After(now) {
			return nil, head.next, true
		}
		heap.Pop(&q.due)
		q.inFlight++
		q.flying[head] = struct{}{}
		p.inFlight++
		head.last = head.next
		p.fixNamespaceLocked(q)
		return head, time.Time{}, true
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
