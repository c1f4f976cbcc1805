package shard

import (
	"sync"
)

// Assignment decides which keys this replica may work on. It is immutable:
// a change of membership replaces it.
type Assignment struct {
	self string
	// claims are the views this replica has published or is about to
	// publish; it works on a key only when every one of them gives the key
	// to it (two during a change: the old view and the new one).
	claims []view
	// others are the views the other live members published, as read by
	// the last consistent list: a key one of them claims is theirs until
	// they publish otherwise.
	others map[string]view
	// leader, if set, holds the group's leader-election Lease: a replica
	// running without --sharding that works on every key.
	leader string
}

// Owns reports whether a replica holding a may work on key.
func (a *Assignment) Owns(key string) bool {
	if a == nil || len(a.claims) == 0 || a.leader != "" {
		return false
	}
	for _, c := range a.claims {
		if !c.assigns(key, a.self) {
			return false
		}
	}
	for member, v := range a.others {
		if v.assigns(key, member) {
			return false
		}
	}
	return true
}

func (a *Assignment) equal(b *Assignment) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.self != b.self || a.leader != b.leader || len(a.claims) != len(b.claims) || len(a.others) != len(b.others) {
		return false
	}
	for i := range a.claims {
		if !a.claims[i].equal(b.claims[i]) {
			return false
		}
	}
	for m, v := range a.others {
		if w, ok := b.others[m]; !ok || !v.equal(w) {
			return false
		}
	}
	return true
}

// Members is the number of members in the view this replica claims by.
func (a *Assignment) Members() int {
	if a == nil || len(a.claims) == 0 {
		return 0
	}
	return len(a.claims[len(a.claims)-1])
}

// gate is the one place where the assignment meets the work: Begin lets a
// key's work start only under the current assignment, and set returns only
// once no work on a key the new assignment takes away is still running.
type gate struct {
	mu       sync.Mutex
	cond     *sync.Cond
	current  *Assignment
	inflight map[string]int
}

func newGate() *gate {
	g := &gate{inflight: map[string]int{}}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// begin reports whether work on key may start now; if so, end must be
// called when it is over.
func (g *gate) begin(key string) (end func(), ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.current.Owns(key) {
		return nil, false
	}
	g.inflight[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			if g.inflight[key]--; g.inflight[key] == 0 {
				delete(g.inflight, key)
			}
			g.cond.Broadcast()
		})
	}, true
}

// set installs next and waits until no work runs on a key next does not
// own. It returns the assignment it replaced.
func (g *gate) set(next *Assignment) (previous *Assignment) {
	g.mu.Lock()
	defer g.mu.Unlock()
	previous, g.current = g.current, next
	for {
		busy := false
		for key := range g.inflight {
			if !next.Owns(key) {
				busy = true
				break
			}
		}
		if !busy {
			return previous
		}
		g.cond.Wait()
	}
}

func (g *gate) assignment() *Assignment {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.current
}
