package metrics

import (
	"strings"
	"testing"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/testutil"

	"github.com/crddemo/crddemo/pkg/probe"
)

// TestProbesLateByCause: late probes are counted by the cause the prober
// gives, so that MydemoProbeEngineSaturated can select the engine's alone
// and one namespace using its share does not page.
func TestProbesLateByCause(t *testing.T) {
	m := New()
	reg := metrics.NewKubeRegistry()
	reg.MustRegister(m.probesLate)
	m.ObserveProbeLate(probe.SaturationEngine)
	for range 3 {
		m.ObserveProbeLate(probe.SaturationNamespaceShare)
	}
	want := `
# HELP crddemo_probes_late_total [ALPHA] Probes that started more than 1 s late, by cause: engine (every probe slot was in use while it waited: the probe engine is saturated while this grows) or namespace_share (slots were free, but its namespace had used its share).
# TYPE crddemo_probes_late_total counter
crddemo_probes_late_total{cause="engine"} 1
crddemo_probes_late_total{cause="namespace_share"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "crddemo_probes_late_total"); err != nil {
		t.Fatal(err)
	}
}
