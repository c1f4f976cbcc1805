package controller

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/probe"
)

// A hostile review of zone hints.

// TestZoneThatIsNotALabelValueIsNotHinted: the API server takes any text
// as an endpoint's zone but refuses a hint whose zone is not a label value
// (as a node's topology.kubernetes.io/zone label is), and the refusal fails
// the whole slice write, freezing every endpoint's readiness in it. Such a
// zone is therefore treated as no zone: nothing is hinted, and the
// ZoneHints condition names the endpoint.
func TestZoneThatIsNotALabelValueIsNotHinted(t *testing.T) {
	for _, zone := range []string{"zone a", "zone/a", "-a", "a_", strings.Repeat("z", 64)} {
		t.Run(zone, func(t *testing.T) {
			md := zoned(zone, preferSameZone)
			spec := specOf(t, md)
			in := viewOf(md, spec, mainSlots(3), []probe.State{reachable, reachable, reachable})
			plan, _ := planEndpointSlices(md, spec, in, nil)
			for addr, ep := range sliceEntries(t, plan) {
				if ep.Hints != nil {
					t.Errorf("%s hinted %+v: with a zone the API refuses in a hint, nothing may be hinted", addr, ep.Hints)
				}
			}
			in.pub = published
			cond := meta.FindStatusCondition(computeStatus(md, in, fixedNow).Conditions, crddemov1.ConditionZoneHints)
			if cond == nil || cond.Status != metav1.ConditionFalse || !strings.Contains(cond.Message, "10.1.0.3 (db-2)") {
				t.Errorf("ZoneHints %+v, want False naming 10.1.0.3 (db-2)", cond)
			}
		})
	}
	// Label values that are valid keep their hints.
	for _, zone := range []string{"eu-west-1c", "Zone_A.1", "z"} {
		md := zoned(zone, preferSameZone)
		spec := specOf(t, md)
		in := viewOf(md, spec, mainSlots(3), []probe.State{reachable, reachable, reachable})
		plan, _ := planEndpointSlices(md, spec, in, nil)
		if ep := sliceEntries(t, plan)["10.1.0.3"]; ep.Hints == nil || ep.Hints.ForZones[0].Name != zone {
			t.Errorf("zone %q: hints %+v, want hinted for it", zone, ep.Hints)
		}
	}
}
