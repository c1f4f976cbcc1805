package main

import (
	"slices"
	"testing"
	"time"
)

func TestStepSeries(t *testing.T) {
	for _, tc := range []struct {
		name    string
		initial int
		steps   []step
		end     float64
		buckets int
		want    []Point
	}{{
		name:    "every change its own point, out of order, held to the end",
		initial: 2,
		steps:   []step{{3, -1}, {1, 1}, {2, -2}},
		end:     5, buckets: 100,
		want: []Point{{0, 2}, {1, 3}, {2, 1}, {3, 0}, {5, 0}},
	}, {
		name:    "changes within one bucket merge into the last, with the value after it",
		initial: 0,
		steps:   []step{{0.1, 1}, {0.2, 1}, {0.3, 1}, {1.6, 1}},
		end:     2, buckets: 2,
		want: []Point{{0, 0}, {0.3, 3}, {1.6, 4}, {2, 4}},
	}, {
		name:    "last change at the end: no extra point",
		initial: 0,
		steps:   []step{{1, 1}, {2, 1}},
		end:     2, buckets: 400,
		want: []Point{{0, 0}, {1, 1}, {2, 2}},
	}, {
		name:    "no change",
		initial: 4,
		end:     3, buckets: 400,
		want: []Point{{0, 4}, {3, 4}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			if got := stepSeries(tc.initial, tc.steps, tc.end, tc.buckets); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestStepSeriesBounded: N changes at distinct times give at most one
// point per bucket, plus the start.
func TestStepSeriesBounded(t *testing.T) {
	var steps []step
	for i := range 10000 {
		steps = append(steps, step{at: float64(i) / 1000, delta: 1})
	}
	got := stepSeries(0, steps, 10, seriesBuckets)
	if len(got) > seriesBuckets+2 {
		t.Errorf("%d points for %d buckets", len(got), seriesBuckets)
	}
	if last := got[len(got)-1]; last != (Point{10, 10000}) {
		t.Errorf("last point %v, want [10 10000]", last)
	}
}

// TestCountSeries: the count starts from each object's state at `from`
// (its last flip before), follows the flips up to `to`, and leaves out
// other objects and later flips.
func TestCountSeries(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	tr := &tracker{objs: map[string]*objState{
		// Ready before from, down at 2 s, up again after to.
		"a": {endpointFlips: []flip{{at(-5), true}, {at(2), false}, {at(9), true}}},
		// Ready before from, down at 1 s, up at 3 s.
		"b": {endpointFlips: []flip{{at(-5), true}, {at(1), false}, {at(3), true}}},
		// Never ready.
		"c": {},
		// Not one of the names counted.
		"other": {endpointFlips: []flip{{at(-5), true}, {at(1.5), false}}},
	}}
	got := tr.countSeries([]string{"a", "b", "c", "missing"}, endpointFlips, at(0), at(4))
	want := []Point{{0, 2}, {1, 1}, {2, 0}, {3, 1}, {4, 1}}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
