package integration

import (
	"context"
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/controller"
	"github.com/crddemo/crddemo/test/testhost"
)

// TestDrain: draining one of two endpoints keeps it in the slice, not
// ready and terminating, serving as its probe says, with reason Draining in
// status and the Mydemo PartiallyReady, for one slice write and one status
// write; its probe failing while drained turns serving off and raises no
// Unreachable; undraining returns it in one slice write.
func TestDrain(t *testing.T) {
	t.Parallel()
	a, b := testhost.Require(t), testhost.Require(t)
	const port = 5432
	for _, h := range []*testhost.Host{a, b} {
		if err := h.Serve(port); err != nil {
			t.Fatal(err)
		}
	}
	e := newEnv(t)
	rc := e.startController()
	drainedAddr := a.Addr(1).String()
	e.createMydemo("db", crddemov1.MydemoSpec{
		Endpoints: []crddemov1.Endpoint{{IP: drainedAddr}, {IP: b.Addr(1).String()}},
		Port:      port,
		Probe:     fastProbe,
	})
	e.waitEndpointsReady("db", "2/2", converge)
	e.waitCondition("db", crddemov1.ConditionReady, metav1.ConditionTrue, "Ready", converge)

	// The window in which a write the toggle should not cost would have
	// shown: three probe periods, the probes' next verdicts included.
	window := 3 * time.Duration(fastProbe.PeriodSeconds) * time.Second
	// statusWrites is the controller's PUTs that are not slice updates:
	// its status updates (it never updates the Service here).
	statusWrites := func() int {
		s := rc.counter.snapshot()
		return s[http.MethodPut] - s[http.MethodPut+" endpointslices"]
	}
	setDrain := func(drain bool) {
		t.Helper()
		md := e.getMydemo("db")
		md.Spec.Endpoints[0].Drain = drain
		if _, err := e.client.CrddemoV1().Mydemos(e.ns).Update(context.Background(), md, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// waitDrained waits until the drained endpoint's slice conditions
	// are ready=false, terminating=true and serving=serving.
	waitDrained := func(serving bool) {
		t.Helper()
		e.eventually(probeLimit, "slice: "+drainedAddr+" draining", func() (bool, string) {
			s, err := e.getSlice("db-ipv4")
			if err != nil {
				return false, err.Error()
			}
			c := endpointConditions(s, drainedAddr)
			return c.Ready != nil && !*c.Ready && c.Terminating != nil && *c.Terminating && c.Serving != nil && *c.Serving == serving,
				conditionsString(c)
		})
	}
	writesOfToggle := func(what string, slicesBefore, statusBefore int) {
		t.Helper()
		time.Sleep(window)
		if n := rc.counter.sliceWrites() - slicesBefore; n != 1 {
			t.Errorf("%s: %d EndpointSlice writes, want 1", what, n)
		}
		if n := statusWrites() - statusBefore; n != 1 {
			t.Errorf("%s: %d status writes, want 1 (requests: %v)", what, n, rc.counter.snapshot())
		}
	}

	slicesBefore, statusBefore := rc.counter.sliceWrites(), statusWrites()
	setDrain(true)
	waitDrained(true)
	md := e.waitCondition("db", crddemov1.ConditionReady, metav1.ConditionTrue, "PartiallyReady", converge)
	if md.Status.EndpointsReady != "1/2" {
		t.Errorf("endpointsReady %q, want 1/2", md.Status.EndpointsReady)
	}
	if es := md.Status.Endpoints[0]; es.Reason != controller.ReasonDraining || es.Ready || !es.Published || es.Probe != crddemov1.ProbeReachable {
		t.Errorf("drained endpoint status %+v", es)
	}
	writesOfToggle("drain", slicesBefore, statusBefore)
	e.waitEvent("db", corev1.EventTypeNormal, controller.ReasonDraining, converge)

	// The drained endpoint's program stops: serving follows its probe,
	// the status keeps saying Draining, and nothing says Unreachable.
	if err := a.StopServing(port); err != nil {
		t.Fatal(err)
	}
	waitDrained(false)
	e.eventually(converge, "status: drained endpoint's probe Unreachable", func() (bool, string) {
		md = e.getMydemo("db")
		es := md.Status.Endpoints[0]
		return es.Probe == crddemov1.ProbeUnreachable, es.Probe + " " + es.Reason
	})
	if es := md.Status.Endpoints[0]; es.Reason != controller.ReasonDraining {
		t.Errorf("a drained endpoint failing its probe: %+v", es)
	}
	if ready := findCondition(md, crddemov1.ConditionReady); ready.Status != metav1.ConditionTrue || ready.Reason != "PartiallyReady" {
		t.Errorf("Ready = %+v", ready)
	}
	events, err := e.kube.CoreV1().Events(e.ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=db,reason=" + controller.ReasonUnreachable})
	if err != nil {
		t.Fatal(err)
	}
	if len(events.Items) != 0 {
		t.Errorf("a drained endpoint's probe failing raised %q", events.Items[0].Message)
	}

	if err := a.Serve(port); err != nil {
		t.Fatal(err)
	}
	waitDrained(true)
	e.eventually(converge, "status: drained endpoint's probe Reachable", func() (bool, string) {
		es := e.getMydemo("db").Status.Endpoints[0]
		return es.Probe == crddemov1.ProbeReachable, es.Probe
	})

	slicesBefore, statusBefore = rc.counter.sliceWrites(), statusWrites()
	setDrain(false)
	e.waitEndpointsReady("db", "2/2", converge)
	s, err := e.getSlice("db-ipv4")
	if err != nil {
		t.Fatal(err)
	}
	if c := endpointConditions(s, drainedAddr); !*c.Ready || !*c.Serving || *c.Terminating {
		t.Errorf("undrained: %s", conditionsString(c))
	}
	writesOfToggle("undrain", slicesBefore, statusBefore)
	e.waitEvent("db", corev1.EventTypeNormal, controller.ReasonDrainStopped, converge)
}

// endpointConditions are the conditions of addr's endpoint in s.
func endpointConditions(s *discoveryv1.EndpointSlice, addr string) discoveryv1.EndpointConditions {
	for _, ep := range s.Endpoints {
		if len(ep.Addresses) > 0 && ep.Addresses[0] == addr {
			return ep.Conditions
		}
	}
	return discoveryv1.EndpointConditions{}
}

func conditionsString(c discoveryv1.EndpointConditions) string {
	show := func(b *bool) string {
		if b == nil {
			return "nil"
		}
		if *b {
			return "true"
		}
		return "false"
	}
	return "ready=" + show(c.Ready) + " serving=" + show(c.Serving) + " terminating=" + show(c.Terminating)
}
