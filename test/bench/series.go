package main

import (
	"math"
	"sort"
)

// Point is one sample of a count over time: [seconds since the series'
// origin, value]. An array, so that results.json stays compact.
type Point [2]float64

// seriesBuckets bounds the points of a series: a count over time is kept
// at this many steps of its span at most, so results.json and the pictures
// stay a few KB at any N while a step is still far shorter than a probe
// period (30 s / 400 = 75 ms).
const seriesBuckets = 400

// step is one change of a count: delta at `at` seconds.
type step struct {
	at    float64
	delta int
}

// stepSeries turns a count that starts at initial and changes by steps
// into points from 0 to end seconds, each point holding its value until
// the next one. Changes within one of buckets equal parts of the span
// merge into one point at the last of them, with the value after it.
func stepSeries(initial int, steps []step, end float64, buckets int) []Point {
	sort.SliceStable(steps, func(i, j int) bool { return steps[i].at < steps[j].at })
	width := end / float64(buckets)
	bucket := func(at float64) int {
		if width <= 0 {
			return 0
		}
		return int(at / width)
	}
	out := []Point{{0, float64(initial)}}
	v := initial
	for i, s := range steps {
		v += s.delta
		if i+1 < len(steps) && bucket(steps[i+1].at) == bucket(s.at) {
			continue
		}
		out = append(out, Point{roundMillis(s.at), float64(v)})
	}
	if last := out[len(out)-1]; last[0] < end {
		out = append(out, Point{roundMillis(end), float64(v)})
	}
	return out
}

// roundMillis rounds seconds to the millisecond: finer is noise in the
// watch's own delivery.
func roundMillis(s float64) float64 {
	return math.Round(s*1000) / 1000
}
