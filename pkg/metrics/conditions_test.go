package metrics

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/testutil"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
)

type staticLister []*crddemov1.Mydemo

func (l staticLister) List(labels.Selector) ([]*crddemov1.Mydemo, error) { return l, nil }

func withConditions(conds ...metav1.Condition) *crddemov1.Mydemo {
	return &crddemov1.Mydemo{Status: crddemov1.MydemoStatus{Conditions: conds}}
}

func TestConditionCollector(t *testing.T) {
	lister := staticLister{
		withConditions(
			metav1.Condition{Type: crddemov1.ConditionPublished, Status: metav1.ConditionTrue},
			metav1.Condition{Type: crddemov1.ConditionReachable, Status: metav1.ConditionTrue},
			metav1.Condition{Type: crddemov1.ConditionReady, Status: metav1.ConditionTrue},
		),
		withConditions(
			metav1.Condition{Type: crddemov1.ConditionPublished, Status: metav1.ConditionTrue},
			metav1.Condition{Type: crddemov1.ConditionReachable, Status: metav1.ConditionFalse},
			metav1.Condition{Type: crddemov1.ConditionReady, Status: metav1.ConditionFalse},
		),
		withConditions(), // not synced yet: every condition counts as Unknown
	}
	reg := metrics.NewKubeRegistry()
	reg.CustomMustRegister(newConditionCollector(lister))
	want := `
# HELP crddemo_mydemos [ALPHA] Mydemos by condition type and status (True, False, Unknown), from the controller's cache.
# TYPE crddemo_mydemos gauge
crddemo_mydemos{condition="Published",status="False"} 0
crddemo_mydemos{condition="Published",status="True"} 2
crddemo_mydemos{condition="Published",status="Unknown"} 1
crddemo_mydemos{condition="Reachable",status="False"} 1
crddemo_mydemos{condition="Reachable",status="True"} 1
crddemo_mydemos{condition="Reachable",status="Unknown"} 1
crddemo_mydemos{condition="Ready",status="False"} 1
crddemo_mydemos{condition="Ready",status="True"} 1
crddemo_mydemos{condition="Ready",status="Unknown"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "crddemo_mydemos"); err != nil {
		t.Fatal(err)
	}
}
