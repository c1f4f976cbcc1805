package integration

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/controller"
	"github.com/crddemo/crddemo/test/testhost"
)

// TestProbeFollowsTheProgram probes a TCP server on a test host in a
// network namespace this test creates.
func TestProbeFollowsTheProgram(t *testing.T) {
	t.Parallel()
	host := testhost.Require(t)
	if err := host.Serve(8080); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	e.startController()
	const period, failures = 1, 2
	e.createMydemo("db", crddemov1.MydemoSpec{
		IP:   host.Addr(1).String(),
		Port: 8080,
		Probe: &crddemov1.Probe{
			Type: crddemov1.ProbeTypeTCP, PeriodSeconds: period, TimeoutSeconds: 1,
			SuccessThreshold: 1, FailureThreshold: failures,
		},
	})
	e.waitCondition("db", crddemov1.ConditionReachable, metav1.ConditionTrue, "", converge)
	e.waitCondition("db", crddemov1.ConditionReady, metav1.ConditionTrue, "", converge)
	e.waitEndpointReady("db-ipv4", true, converge)
	// A new Mydemo gets one Event, which says both that it is published
	// and how many endpoints are ready: the first verdict came first.
	if ev := e.waitEvent("db", corev1.EventTypeNormal, controller.ReasonPublished, converge); !strings.Contains(ev.Message, "1 of 1 endpoints ready") {
		t.Errorf("Published event %q does not carry the first verdict", ev.Message)
	}

	if err := host.StopServing(8080); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	// period × failureThreshold, plus one period of phase, plus slack for
	// the sync and the writes.
	limit := time.Duration(period*failures+period)*time.Second + 3*time.Second
	md := e.waitCondition("db", crddemov1.ConditionReachable, metav1.ConditionFalse, "", limit)
	t.Logf("unreachable after %s", time.Since(stopped).Round(time.Millisecond))
	if msg := findCondition(md, crddemov1.ConditionReachable).Message; msg == "" {
		t.Error("no probe error in the Reachable message")
	}
	e.waitEndpointReady("db-ipv4", false, converge)
	ev := e.waitEvent("db", corev1.EventTypeWarning, controller.ReasonUnreachable, converge)
	t.Logf("event: %s", ev.Message)
	if ready := findCondition(e.getMydemo("db"), crddemov1.ConditionReady); ready.Status != metav1.ConditionFalse {
		t.Errorf("Ready = %+v", ready)
	}

	if err := host.Serve(8080); err != nil {
		t.Fatal(err)
	}
	e.waitCondition("db", crddemov1.ConditionReady, metav1.ConditionTrue, "", limit)
	e.waitEndpointReady("db-ipv4", true, converge)
}
