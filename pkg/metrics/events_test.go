package metrics

import (
	"strconv"
	"strings"
	"testing"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/testutil"
)

func TestEventCollector(t *testing.T) {
	unwritten, dropped := int64(42), int64(0)
	reg := metrics.NewKubeRegistry()
	reg.CustomMustRegister(&eventCollector{queue: func() (int64, int64) { return unwritten, dropped }})
	want := func(u, d int64) string {
		return strings.NewReplacer("U", strconv.FormatInt(u, 10), "D", strconv.FormatInt(d, 10)).Replace(`
# HELP crddemo_events_dropped_total [ALPHA] Events dropped because too many were waiting to be written; each drop is also logged.
# TYPE crddemo_events_dropped_total counter
crddemo_events_dropped_total D
# HELP crddemo_events_unwritten [ALPHA] Events recorded and not yet written to the API server: queued, in flight or being retried.
# TYPE crddemo_events_unwritten gauge
crddemo_events_unwritten U
`)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want(42, 0)), "crddemo_events_unwritten", "crddemo_events_dropped_total"); err != nil {
		t.Fatal(err)
	}
	// Read at every scrape, not at registration.
	unwritten, dropped = 0, 7
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want(0, 7)), "crddemo_events_unwritten", "crddemo_events_dropped_total"); err != nil {
		t.Fatal(err)
	}
}
