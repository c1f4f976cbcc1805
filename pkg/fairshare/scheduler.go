package fairshare

import (
	"time"

	"k8s.io/utils/clock"
)

// Item is the scheduler's part of an entry. An engine's entry type embeds
// it, and a pointer to that type is the E of Scheduler[E]: what the
// scheduler keeps for an entry lives in the entry, so scheduling one
// allocates nothing.
//
// The due queues hold Items rather than entries, so that ordering them
// reads due without a call through E's method; entry leads back to the
// entry. The fields are laid out to keep an Item at 48 bytes, what the
// fields it replaced took in the engines' entries.
type Item[E comparable] struct {
	// due is when the entry falls due; it stays readable after the entry
	// left its queue.
	due   time.Time
	ns    *nsQueue[E]
	entry E
	// index is the position in ns.due, or -1 while the entry is not
	// queued: in flight, or removed. Being out of the queue is what keeps
	// an entry from starting twice at the same time.
	index int32
	// preempted is set when the entry was taken back while in flight to
	// give its slot to another namespace; Queue clears it.
	preempted bool
	// removed is set by Remove; a removed entry never starts again.
	removed bool
}

// Entry is a pointer to an engine's entry type, which embeds Item.
type Entry[E comparable] interface {
	comparable
	item() *Item[E]
}

func (it *Item[E]) item() *Item[E] { return it }

// Due returns when the entry was last queued to fall due.
func (it *Item[E]) Due() time.Time { return it.due }

// Queued reports whether the entry waits in its namespace's queue: neither
// in flight nor removed.
func (it *Item[E]) Queued() bool { return it.index >= 0 }

// Preempted reports whether the entry was taken back while in flight, to
// give its slot to another namespace: its result says nothing and it is
// due again at once.
func (it *Item[E]) Preempted() bool { return it.preempted }

// Removed reports whether the entry was removed from the schedule.
func (it *Item[E]) Removed() bool { return it.removed }

// nsQueue is the schedule of one namespace.
type nsQueue[E comparable] struct {
	name string
	due  minHeap[*Item[E]]
	// entries counts the entries of this namespace, queued or in flight;
	// inFlight those started, which flying holds, so that entries beyond
	// the share can be taken back.
	entries  int
	inFlight int
	flying   map[E]struct{}
	// served is Scheduler.started when this namespace last started an
	// entry; zero if it never did.
	served uint64
	// in is Scheduler.ready when the namespace is below its share and its
	// earliest entry is due, Scheduler.waiting when that entry is not due
	// yet, and nil otherwise; index is the position there.
	in    *minHeap[*nsQueue[E]]
	index int32
}

// nextDue is when the earliest entry of q falls due; q must have one queued.
func nextDue[E comparable](q *nsQueue[E]) time.Time { return q.due.first().due }

// Options configure a Scheduler. Every field is required.
type Options[E any] struct {
	// Slots is how many entries may be in flight at once.
	Slots int
	// Clock tells which queued entries are due.
	Clock clock.PassiveClock
	// TakeBack cancels an entry in flight that its namespace holds beyond
	// its share. The entry is already marked Preempted, and keeps its
	// slot until the engine calls Done.
	TakeBack func(e E)
	// Wake tells the engine that an entry may start now where none could
	// before: a slot was given back, or a namespace left and the others'
	// shares grew. It is called with the engine's lock held, so it must
	// not block.
	Wake func()
}

// Scheduler decides which entry starts when, by the rules in the package
// documentation. It has no lock of its own: the engine calls every method
// under the lock that guards its entries.
type Scheduler[E Entry[E]] struct {
	slots    int
	clock    clock.PassiveClock
	takeBack func(E)
	wake     func()

	// namespaces holds the queue of every namespace with entries, queued
	// or in flight. Those below their share with an entry queued are in
	// ready when it is due (see fewestInFlight) or in waiting (earliest
	// due first).
	namespaces map[string]*nsQueue[E]
	ready      minHeap[*nsQueue[E]]
	waiting    minHeap[*nsQueue[E]]
	// inFlight counts the entries started and not done, at most slots;
	// started those ever started, which stamps each namespace when it
	// starts one.
	inFlight int
	started  uint64
}

// New returns a Scheduler with no entries.
func New[E Entry[E]](opts Options[E]) *Scheduler[E] {
	return &Scheduler[E]{
		slots:      opts.Slots,
		clock:      opts.Clock,
		takeBack:   opts.TakeBack,
		wake:       opts.Wake,
		namespaces: map[string]*nsQueue[E]{},
		ready:      minHeap[*nsQueue[E]]{less: fewestInFlight[E], index: nsIndex[E]},
		waiting:    minHeap[*nsQueue[E]]{less: earliestDue[E], index: nsIndex[E]},
	}
}

// fewestInFlight orders the ready namespaces: the one with the fewest
// entries in flight first, so a namespace that has none gets the next free
// slot; then the one served least recently, so that no namespace gets a
// slot twice while another waits; then the most overdue.
func fewestInFlight[E Entry[E]](a, b *nsQueue[E]) bool {
	if a.inFlight != b.inFlight {
		return a.inFlight < b.inFlight
	}
	if a.served != b.served {
		return a.served < b.served
	}
	return nextDue(a).Before(nextDue(b))
}

// earliestDue orders the waiting namespaces by when their next entry
// falls due.
func earliestDue[E Entry[E]](a, b *nsQueue[E]) bool { return nextDue(a).Before(nextDue(b)) }

func nsIndex[E comparable](q *nsQueue[E]) *int32 { return &q.index }

// dueFirst orders the entries of a namespace, the most overdue first.
func dueFirst[E comparable](a, b *Item[E]) bool { return a.due.Before(b.due) }

func itemIndex[E comparable](it *Item[E]) *int32 { return &it.index }

// InFlight returns how many entries are in flight.
func (s *Scheduler[E]) InFlight() int { return s.inFlight }

// Namespaces returns how many namespaces have entries, queued or in
// flight.
func (s *Scheduler[E]) Namespaces() int { return len(s.namespaces) }

// share is the most slots one namespace may hold.
func (s *Scheduler[E]) share() int {
	n := len(s.namespaces)
	if n <= 1 {
		return s.slots
	}
	return (s.slots + n - 1) / n
}

// Add schedules a new entry of namespace, due at due. A namespace new to
// the scheduler lowers everyone's share, so entries in flight beyond it
// are taken back.
func (s *Scheduler[E]) Add(e E, namespace string, due time.Time) {
	q, ok := s.namespaces[namespace]
	if !ok {
		q = &nsQueue[E]{
			name:   namespace,
			due:    minHeap[*Item[E]]{less: dueFirst[E], index: itemIndex[E]},
			flying: map[E]struct{}{},
			index:  -1,
		}
		s.namespaces[namespace] = q
		s.takeBackOverShare()
	}
	it := e.item()
	it.ns, it.entry, it.index = q, e, -1
	q.entries++
	s.Queue(e, due)
}

// Queue puts an entry that is neither queued, in flight nor removed back
// into its namespace's queue, due at due. It is no longer Preempted.
func (s *Scheduler[E]) Queue(e E, due time.Time) {
	it := e.item()
	it.due = due
	it.preempted = false
	it.ns.due.add(it)
	s.fix(it.ns)
}

// Reschedule moves a queued entry to a new due time. An entry in flight
// gets its next due time from the engine when it is queued again.
func (s *Scheduler[E]) Reschedule(e E, due time.Time) {
	it := e.item()
	if it.index < 0 {
		return
	}
	it.due = due
	it.ns.due.fix(int(it.index))
	s.fix(it.ns)
}

// Remove takes an entry out of the schedule for good; the engine calls it
// once. An entry in flight keeps its slot until Done, but is never queued
// again, and no longer counts towards its namespace's share: the engine
// cancels it, so its slot is on its way back. A namespace left without
// entries is forgotten, which grows everyone else's share.
func (s *Scheduler[E]) Remove(e E) {
	it := e.item()
	it.removed = true
	if it.index >= 0 {
		it.ns.due.remove(int(it.index))
		s.fix(it.ns)
	}
	it.ns.entries--
	s.dropIfEmpty(it.ns)
}

// Pop takes the next entry to start, if one is due and a slot is free for
// it, and counts it in flight until Done: from the first ready namespace
// (see fewestInFlight), its most overdue entry. Otherwise it returns when
// the earliest entry not due yet, below its namespace's share, falls due,
// and whether there is one; a due entry waits for a slot, and Wake says
// when one frees. The slot is chosen only once it is free, not while the
// engine waits for a worker, so that the namespace first in line when an
// entry ends is the one that gets its slot.
func (s *Scheduler[E]) Pop(now time.Time) (e E, due time.Time, pending bool) {
	for s.waiting.Len() > 0 && !nextDue(s.waiting.first()).After(now) {
		q := s.waiting.take()
		s.ready.add(q)
		q.in = &s.ready
	}
	share := s.share()
	for s.ready.Len() > 0 {
		q := s.ready.first()
		if q.inFlight >= share {
			// Its share shrank since it was queued.
			s.ready.take()
			q.in = nil
			continue
		}
		if s.inFlight >= s.slots {
			return e, time.Time{}, false
		}
		e = q.due.take().entry
		q.inFlight++
		q.flying[e] = struct{}{}
		s.inFlight++
		s.started++
		q.served = s.started
		s.fix(q)
		return e, time.Time{}, true
	}
	if s.waiting.Len() > 0 {
		return e, nextDue(s.waiting.first()), true
	}
	return e, time.Time{}, false
}

// Done gives back the slot of an entry Pop returned. Its namespace, or
// another, may start an entry now, so the engine is woken.
func (s *Scheduler[E]) Done(e E) {
	q := e.item().ns
	delete(q.flying, e)
	q.inFlight--
	s.inFlight--
	s.fix(q)
	s.dropIfEmpty(q)
	s.wake()
}

// takeBackOverShare takes back the entries each namespace holds in flight
// beyond its share, not counting those already on their way back.
func (s *Scheduler[E]) takeBackOverShare() {
	share := s.share()
	for _, q := range s.namespaces {
		if q.inFlight <= share {
			continue
		}
		keep := 0
		for e := range q.flying {
			if it := e.item(); !it.preempted && !it.removed {
				keep++
			}
		}
		for e := range q.flying {
			if keep <= share {
				break
			}
			it := e.item()
			if it.preempted || it.removed {
				continue
			}
			it.preempted = true
			s.takeBack(e)
			keep--
		}
	}
}

// fix puts q into the heap it belongs in, moves it there, or takes it
// out, after its queue or its slot count changed.
func (s *Scheduler[E]) fix(q *nsQueue[E]) {
	var want *minHeap[*nsQueue[E]]
	if q.due.Len() > 0 && q.inFlight < s.share() {
		want = &s.ready
		if nextDue(q).After(s.clock.Now()) {
			want = &s.waiting
		}
	}
	switch {
	case q.in == want && want != nil:
		want.fix(int(q.index))
	case q.in == want:
	default:
		if q.in != nil {
			q.in.remove(int(q.index))
		}
		if want != nil {
			want.add(q)
		}
		q.in = want
	}
}

// dropIfEmpty forgets a namespace without entries. Everyone's share grows,
// so every namespace is looked at again; that costs one pass over the
// namespaces, only when one goes.
func (s *Scheduler[E]) dropIfEmpty(q *nsQueue[E]) {
	if q.entries > 0 || q.inFlight > 0 || s.namespaces[q.name] != q {
		return
	}
	if q.in != nil {
		q.in.remove(int(q.index))
		q.in = nil
	}
	delete(s.namespaces, q.name)
	for _, other := range s.namespaces {
		s.fix(other)
	}
	s.wake()
}
