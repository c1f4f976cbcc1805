package fairshare

import (
	"fmt"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// job is an engine's entry, as the probe engine and the resolver embed Item.
type job struct {
	Item[*job]
	ns string
	id int
}

func (j *job) String() string { return fmt.Sprintf("%s/%d", j.ns, j.id) }

// harness is a Scheduler on a fake clock that records what it asks of the
// engine.
type harness struct {
	*Scheduler[*job]
	clock    *testingclock.FakeClock
	takenBak []*job
	wakes    int
}

func newHarness(slots int) *harness {
	h := &harness{clock: testingclock.NewFakeClock(epoch)}
	h.Scheduler = New(Options[*job]{
		Slots:    slots,
		Clock:    h.clock,
		TakeBack: func(j *job) { h.takenBak = append(h.takenBak, j) },
		Wake:     func() { h.wakes++ },
	})
	return h
}

// add schedules n jobs of namespace, all due at due.
func (h *harness) add(namespace string, n int, due time.Time) []*job {
	jobs := make([]*job, n)
	for i := range jobs {
		jobs[i] = &job{ns: namespace, id: i}
		h.Add(jobs[i], namespace, due)
	}
	return jobs
}

// popAll starts jobs due at now until none may start, and returns them.
func (h *harness) popAll(now time.Time) []*job {
	var out []*job
	for {
		j, _, _ := h.Pop(now)
		if j == nil {
			return out
		}
		out = append(out, j)
	}
}

func countByNamespace(jobs []*job) map[string]int {
	n := map[string]int{}
	for _, j := range jobs {
		n[j.ns]++
	}
	return n
}

// Each namespace holds at most ceil(slots / namespaces), so the shares can
// use every slot between them, and never more than the slots in all.
func TestShareIsSlotsOverNamespacesRoundedUp(t *testing.T) {
	for _, c := range []struct{ slots, namespaces int }{
		{5, 1}, {5, 2}, {5, 3}, {4, 4}, {5, 7}, {1, 3},
	} {
		t.Run(fmt.Sprintf("%d slots, %d namespaces", c.slots, c.namespaces), func(t *testing.T) {
			h := newHarness(c.slots)
			for n := range c.namespaces {
				h.add(fmt.Sprintf("ns-%d", n), 2*c.slots, epoch)
			}
			started := h.popAll(epoch)
			share := (c.slots + c.namespaces - 1) / c.namespaces
			if len(started) != c.slots || h.InFlight() != c.slots {
				t.Errorf("%d started, %d in flight, want every one of the %d slots used", len(started), h.InFlight(), c.slots)
			}
			for ns, n := range countByNamespace(started) {
				if n > share {
					t.Errorf("%s holds %d slots, its share is %d", ns, n, share)
				}
			}
		})
	}
}

// The review's case, step by step: with more namespaces than slots,
// hostile namespaces whose entries are all overdue, and a victim whose
// entry fell due a second later, nothing is handed out while every slot
// is taken, and every run of as many starts as there are namespaces
// serves each of them once. Each entry ends in turn, the oldest first, and
// is queued again as overdue as it was, as a backlog of black-holed
// targets or hanging names stays. Ordered by overdueness instead, the
// victim was never served; chosen before a slot was free, an entry waited
// for a worker in the engine's hand, beyond the slots.
func TestFreeSlotGoesToTheNamespaceServedLeastRecently(t *testing.T) {
	const (
		slots   = 2
		hostile = 3
		rounds  = 5
	)
	h := newHarness(slots)
	for k := range hostile {
		h.add(fmt.Sprintf("hostile-%d", k), 10, epoch)
	}
	now := epoch.Add(time.Second)
	h.add("victim", 1, now)
	const namespaces = hostile + 1

	var flying []*job
	var served []string
	for len(served) < rounds*namespaces {
		if len(flying) == slots {
			if j, _, _ := h.Pop(now); j != nil {
				t.Fatalf("%s started with %d slots of %d taken", j, h.InFlight()-1, slots)
			}
			j := flying[0]
			flying = flying[1:]
			h.Done(j)
			h.Queue(j, j.Due())
		}
		j, _, _ := h.Pop(now)
		if j == nil {
			t.Fatalf("nothing started after %v with a slot free", served)
		}
		flying = append(flying, j)
		served = append(served, j.ns)
	}
	for i := range len(served) - namespaces + 1 {
		seen := map[string]bool{}
		for _, ns := range served[i : i+namespaces] {
			seen[ns] = true
		}
		if len(seen) != namespaces {
			t.Fatalf("starts %d to %d served %d of %d namespaces: %v", i, i+namespaces-1, len(seen), namespaces, served)
		}
	}
}

// A namespace that had every slot gives back those beyond its new share
// when another arrives; the slot goes to the newcomer once it is free, and
// entries already taken back do not count towards the share kept when a
// third namespace arrives.
func TestNewcomerTakesBackTheExcess(t *testing.T) {
	const slots = 4
	h := newHarness(slots)
	h.add("a", 10, epoch)
	if started := h.popAll(epoch); len(started) != slots {
		t.Fatalf("a namespace alone started %d entries, want every one of %d slots", len(started), slots)
	}

	h.add("b", 1, epoch)
	if len(h.takenBak) != slots/2 {
		t.Fatalf("%d entries of a taken back, want the %d beyond its share of %d", len(h.takenBak), slots/2, slots/2)
	}
	for _, j := range h.takenBak {
		if j.ns != "a" || !j.Preempted() {
			t.Errorf("%s taken back: Preempted() = %v, want an entry of a, marked", j, j.Preempted())
		}
	}
	// Taken back is not yet given back: every slot is still held, and b,
	// due, waits for Done, not for a time.
	if j, due, pending := h.Pop(epoch); j != nil || pending || !due.IsZero() {
		t.Fatalf("Pop before a slot was given back = %v, %v, %v; want nothing to wait for but Done", j, due, pending)
	}
	back := h.takenBak[0]
	h.Done(back)
	h.Queue(back, epoch)
	if back.Preempted() {
		t.Errorf("%s still Preempted once queued again", back)
	}
	if j, _, _ := h.Pop(epoch); j == nil || j.ns != "b" {
		t.Fatalf("the freed slot went to %v, want the newcomer b", j)
	}

	// a holds 2 on their way and 1 taken back: its share of 2 (of 4 slots
	// among 3 namespaces) is what it keeps, so nothing more is taken.
	h.add("c", 1, epoch)
	if len(h.takenBak) != slots/2 {
		t.Errorf("%d entries taken back in all after a third namespace, want still %d", len(h.takenBak), slots/2)
	}
}

// An entry removed while in flight is on its way back (the engine cancels
// it), so a newcomer takes back only what its namespace keeps beyond the
// share besides it.
func TestRemovedInFlightDoesNotCountTowardsTheShare(t *testing.T) {
	const slots = 4
	h := newHarness(slots)
	h.add("a", 10, epoch)
	started := h.popAll(epoch)
	h.Remove(started[0])
	if !started[0].Removed() {
		t.Fatalf("%s not Removed after Remove", started[0])
	}

	h.add("b", 1, epoch)
	if len(h.takenBak) != 1 {
		t.Fatalf("%d entries taken back, want 1: a keeps 3 besides the removed one, its share is 2", len(h.takenBak))
	}
	if j := h.takenBak[0]; j == started[0] {
		t.Errorf("the removed entry %s was taken back again", j)
	}
	// The removed entry gives its slot back and is never queued again.
	h.Done(started[0])
	if started[0].Queued() {
		t.Errorf("removed %s queued again", started[0])
	}
	if j, _, _ := h.Pop(epoch); j == nil || j.ns != "b" {
		t.Fatalf("the freed slot went to %v, want the newcomer b", j)
	}
}

// Within a namespace the most overdue entry starts first, an entry not
// due yet waits, and Pop says when the earliest one falls due.
func TestEntriesStartWhenDueMostOverdueFirst(t *testing.T) {
	h := newHarness(1)
	late := h.add("a", 1, epoch.Add(10*time.Second))[0]
	first := &job{ns: "b", id: 1}
	second := &job{ns: "b", id: 2}
	third := &job{ns: "b", id: 3}
	h.Add(third, "b", epoch.Add(3*time.Second))
	h.Add(first, "b", epoch.Add(time.Second))
	h.Add(second, "b", epoch.Add(2*time.Second))

	if j, due, pending := h.Pop(epoch); j != nil || !pending || !due.Equal(epoch.Add(time.Second)) {
		t.Fatalf("Pop before anything is due = %v, +%v, %v; want nothing, the first due at +1s", j, due.Sub(epoch), pending)
	}
	// Moved behind the others.
	h.Reschedule(first, epoch.Add(4*time.Second))
	if first.Due() != epoch.Add(4*time.Second) {
		t.Errorf("Due() = +%v after Reschedule, want +4s", first.Due().Sub(epoch))
	}

	var order []*job
	for now := epoch; now.Before(epoch.Add(20 * time.Second)); now = now.Add(time.Second) {
		j, _, _ := h.Pop(now)
		if j == nil {
			continue
		}
		if j.Queued() {
			t.Fatalf("%s started but still Queued", j)
		}
		if !j.Due().After(now) {
			order = append(order, j)
		} else {
			t.Fatalf("%s started at +%v, due at +%v", j, now.Sub(epoch), j.Due().Sub(epoch))
		}
		if other, _, _ := h.Pop(now); other != nil {
			t.Fatalf("%s started with the only slot taken", other)
		}
		wakes := h.wakes
		h.Done(j)
		if h.wakes == wakes {
			t.Fatalf("Done(%s) gave a slot back without waking the engine", j)
		}
	}
	want := []*job{second, third, first, late}
	if fmt.Sprint(order) != fmt.Sprint(want) {
		t.Errorf("started %v, want %v", order, want)
	}
}

// A namespace with no entries left is forgotten at once, and the others'
// shares grow: the engine is woken, since an entry may start where none
// could.
func TestEmptyNamespaceLeavesAndSharesGrow(t *testing.T) {
	h := newHarness(2)
	h.add("a", 5, epoch)
	later := h.add("b", 1, epoch.Add(time.Hour))[0]
	if started := h.popAll(epoch); len(started) != 1 {
		t.Fatalf("%d of a started, want its share of 1 while b has an entry", len(started))
	}

	wakes := h.wakes
	h.Remove(later)
	if h.Namespaces() != 1 {
		t.Errorf("%d namespaces after b's last entry went, want 1", h.Namespaces())
	}
	if h.wakes == wakes {
		t.Errorf("b left without waking the engine")
	}
	if j, _, _ := h.Pop(epoch); j == nil || j.ns != "a" {
		t.Errorf("a started %v with b gone, want its second entry: its share is every slot", j)
	}

	// A namespace whose last entry was removed in flight stays until it
	// gives the slot back.
	h = newHarness(2)
	h.add("a", 5, epoch)
	b := h.add("b", 1, epoch)[0]
	h.popAll(epoch)
	h.Remove(b)
	if h.Namespaces() != 2 {
		t.Errorf("%d namespaces while b's removed entry is in flight, want 2", h.Namespaces())
	}
	h.Done(b)
	if h.Namespaces() != 1 {
		t.Errorf("%d namespaces once b gave its slot back, want 1", h.Namespaces())
	}
	if j, _, _ := h.Pop(epoch); j == nil || j.ns != "a" {
		t.Errorf("a started %v with b gone, want its second entry", j)
	}
}
