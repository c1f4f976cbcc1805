package metrics

import (
	"math"
	"testing"
	"time"

	"k8s.io/component-base/metrics"
)

// TestProbeDurationBuckets: a probe that runs to a timeout users set
// (timeoutSeconds is 1 by default and may be up to an hour; a few seconds
// to half a minute is common for HTTP checks) lands in a finite bucket at
// most twice its duration, so the dashboard's p99 shows a slow or timed-out
// probe's real duration instead of the last finite bound.
func TestProbeDurationBuckets(t *testing.T) {
	m := New()
	reg := metrics.NewKubeRegistry()
	reg.MustRegister(m.probeDuration)
	m.ObserveProbe("failure", time.Second)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var bounds []float64
	for _, f := range families {
		if f.GetName() == "crddemo_probe_duration_seconds" {
			for _, b := range f.GetMetric()[0].GetHistogram().GetBucket() {
				bounds = append(bounds, b.GetUpperBound())
			}
		}
	}
	if len(bounds) == 0 {
		t.Fatal("no crddemo_probe_duration_seconds buckets")
	}
	for _, timeout := range []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second} {
		d := timeout.Seconds()
		bound := math.Inf(1)
		for _, b := range bounds {
			if b >= d {
				bound = b
				break
			}
		}
		if bound >= 2*d {
			t.Errorf("a %v probe falls in the bucket up to %v s (buckets %v)", timeout, bound, bounds)
		}
	}
}
