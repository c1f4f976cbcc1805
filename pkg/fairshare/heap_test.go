package fairshare

import (
	"math/rand/v2"
	"slices"
	"testing"
)

type node struct {
	key   int
	index int32
}

// The heap keeps its least element first, and every element's position
// where the element says, through any mix of adds, takes, removals from
// the middle and changed keys: the scheduler relies on both to move and
// remove entries and namespaces without a search.
func TestMinHeapOrderAndPositions(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	h := minHeap[*node]{
		less:  func(a, b *node) bool { return a.key < b.key },
		index: func(n *node) *int32 { return &n.index },
	}
	var in []*node
	check := func(step int) {
		t.Helper()
		if h.Len() != len(in) {
			t.Fatalf("step %d: %d elements, want %d", step, h.Len(), len(in))
		}
		for i, n := range h.items {
			if int(n.index) != i {
				t.Fatalf("step %d: element at %d says it is at %d", step, i, n.index)
			}
		}
		if len(in) > 0 {
			least := slices.MinFunc(in, func(a, b *node) int { return a.key - b.key })
			if h.first().key != least.key {
				t.Fatalf("step %d: first has key %d, want the least, %d", step, h.first().key, least.key)
			}
		}
	}
	for step := range 5000 {
		switch op := rng.IntN(4); {
		case op == 0 || len(in) == 0:
			n := &node{key: rng.IntN(100), index: -1}
			h.add(n)
			in = append(in, n)
		case op == 1:
			n := h.take()
			if n.index != -1 {
				t.Fatalf("step %d: taken element says it is at %d, want -1", step, n.index)
			}
			in = slices.DeleteFunc(in, func(x *node) bool { return x == n })
		case op == 2:
			n := in[rng.IntN(len(in))]
			h.remove(int(n.index))
			if n.index != -1 {
				t.Fatalf("step %d: removed element says it is at %d, want -1", step, n.index)
			}
			in = slices.DeleteFunc(in, func(x *node) bool { return x == n })
		default:
			n := in[rng.IntN(len(in))]
			n.key = rng.IntN(100)
			h.fix(int(n.index))
		}
		check(step)
	}
}
