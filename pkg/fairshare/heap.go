package fairshare

// minHeap is a binary min-heap under less whose elements keep their own
// position in it (through index), so that one can be moved or taken out
// from the middle in O(log n) without a search. The scheduler keeps
// Items in it by due time and namespaces by their turn.
//
// It is written out rather than built on container/heap so that a
// comparison is one call (less), not two through an interface: every
// probe takes one entry out of a heap of thousands and puts it back.
type minHeap[T any] struct {
	items []T
	less  func(a, b T) bool
	// index returns where x keeps its position: -1 while it is in no heap.
	index func(x T) *int32
}

func (h *minHeap[T]) Len() int { return len(h.items) }

// first is the least element; the heap must not be empty.
func (h *minHeap[T]) first() T { return h.items[0] }

func (h *minHeap[T]) add(x T) {
	h.items = append(h.items, x)
	h.up(len(h.items) - 1)
}

// take removes and returns the least element; the heap must not be empty.
func (h *minHeap[T]) take() T { return h.remove(0) }

// remove removes and returns the element at i.
func (h *minHeap[T]) remove(i int) T {
	x := h.items[i]
	last := len(h.items) - 1
	if i != last {
		h.items[i] = h.items[last]
	}
	// A forgotten element must not stay reachable from the array.
	var zero T
	h.items[last] = zero
	h.items = h.items[:last]
	if i != last {
		h.fix(i)
	}
	*h.index(x) = -1
	return x
}

// fix restores the order after the element at i changed.
func (h *minHeap[T]) fix(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

// up moves the element at i towards the root until its parent is not
// greater, and records where it lands.
func (h *minHeap[T]) up(i int) {
	x := h.items[i]
	for i > 0 {
		parent := (i - 1) / 2
		if !h.less(x, h.items[parent]) {
			break
		}
		h.items[i] = h.items[parent]
		*h.index(h.items[i]) = int32(i)
		i = parent
	}
	h.items[i] = x
	*h.index(x) = int32(i)
}

// down moves the element at i towards the leaves until no child is less,
// records where it lands, and reports whether it moved.
func (h *minHeap[T]) down(i int) bool {
	x := h.items[i]
	start, n := i, len(h.items)
	for {
		child := 2*i + 1
		if child >= n {
			break
		}
		if right := child + 1; right < n && h.less(h.items[right], h.items[child]) {
			child = right
		}
		if !h.less(h.items[child], x) {
			break
		}
		h.items[i] = h.items[child]
		*h.index(h.items[i]) = int32(i)
		i = child
	}
	h.items[i] = x
	*h.index(x) = int32(i)
	return i > start
}
