package main

import (
	"math"
	"sort"
	"strconv"

	"github.com/crddemo/crddemo/test/framework"
)

// metricProbeLateness is the controller's histogram of how late each probe
// started against its schedule.
const metricProbeLateness = "crddemo_probe_lateness_seconds"

// LatenessHistogram is metricProbeLateness as one scrape of one controller
// process showed it: Cumulative[i] probes started at most UpperBounds[i]
// seconds late, of Count in all.
type LatenessHistogram struct {
	UpperBounds []float64 `json:"upper_bounds"`
	Cumulative  []float64 `json:"cumulative"`
	Count       float64   `json:"count"`
}

// latenessHistogram reads metricProbeLateness from a scrape, or returns nil
// when the scrape has none of its buckets.
func latenessHistogram(m framework.Metrics) *LatenessHistogram {
	type bucket struct{ le, n float64 }
	var buckets []bucket
	h := &LatenessHistogram{}
	for _, s := range m {
		if s.Name != metricProbeLateness+"_bucket" {
			continue
		}
		le, err := strconv.ParseFloat(s.Labels["le"], 64)
		switch {
		case err != nil:
		case math.IsInf(le, 1):
			h.Count = s.Value
		default:
			buckets = append(buckets, bucket{le, s.Value})
		}
	}
	if len(buckets) == 0 {
		return nil
	}
	sort.Slice(buckets, func(i, j int) bool { return buckets[i].le < buckets[j].le })
	for _, b := range buckets {
		h.UpperBounds = append(h.UpperBounds, b.le)
		h.Cumulative = append(h.Cumulative, b.n)
	}
	return h
}
