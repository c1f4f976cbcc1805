package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/test/testhost"
)

// TestRestartWritesNothing: a controller started on converged Mydemos —
// probed ones, reachable and unreachable, and unprobed ones — sends no
// write request at all: it starts from the verdicts the statuses record.
func TestRestartWritesNothing(t *testing.T) {
	t.Parallel()
	host := testhost.Require(t)
	const port, closedPort = 8080, 8081
	if err := host.Serve(port); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	first := e.startController()
	probe := func() *crddemov1.Probe {
		return &crddemov1.Probe{Type: crddemov1.ProbeTypeTCP, PeriodSeconds: 1, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 2}
	}
	const unprobedN, probedN = 20, 10
	for i := range unprobedN {
		e.createMydemo(fmt.Sprintf("plain-%d", i), unprobed(fmt.Sprintf("10.251.1.%d", i+1), 8080))
	}
	for i := range probedN {
		p := int32(port)
		if i%2 == 1 {
			p = closedPort // refused: stays Unreachable
		}
		e.createMydemo(fmt.Sprintf("probed-%d", i), crddemov1.MydemoSpec{IP: host.Addr(i + 1).String(), Port: p, Probe: probe()})
	}
	for i := range unprobedN {
		e.waitCondition(fmt.Sprintf("plain-%d", i), crddemov1.ConditionReady, metav1.ConditionTrue, "", converge)
	}
	for i := range probedN {
		want := metav1.ConditionTrue
		if i%2 == 1 {
			want = metav1.ConditionFalse
		}
		e.waitCondition(fmt.Sprintf("probed-%d", i), crddemov1.ConditionReachable, want, "", converge)
	}
	first.stop()

	second := e.startController()
	// Every Mydemo is synced once at start (the informers' initial list),
	// and the probed ones are probed a few times (period 1 s).
	e.eventually(converge, "every Mydemo synced after the restart", func() (bool, string) {
		return second.syncs.n.Load() >= unprobedN+probedN, fmt.Sprintf("%d syncs", second.syncs.n.Load())
	})
	// Three probe periods: a wrong verdict would have been written by now.
	time.Sleep(3 * time.Second)
	second.stop()
	if w := second.counter.writes(); w != 0 {
		t.Fatalf("restarted controller sent %d write requests (by method: %v)", w, second.counter.snapshot())
	}
	t.Logf("requests after restart: %v", second.counter.snapshot())
}

// TestRestartMidOutageFlipsNothingBack: during an outage the controller
// writes the slices first and the statuses may wait behind other Mydemos'
// slices; a process killed in between leaves statuses that still say
// Reachable beside slices that say not ready. The state is made here as
// that process left it (slices not ready, statuses Reachable, target
// down); the next controller must not publish a single one of those
// endpoints as ready again, not even until its first probe.
func TestRestartMidOutageFlipsNothingBack(t *testing.T) {
	t.Parallel()
	host := testhost.Require(t)
	const port, n = 8080, 6
	if err := host.Serve(port); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	ctx := context.Background()
	first := e.startController()
	// A long period and threshold: a seed of Reachable would keep the
	// endpoint ready for up to period × threshold = 60 s before probes
	// could undo it.
	probe := &crddemov1.Probe{Type: crddemov1.ProbeTypeTCP, PeriodSeconds: 20, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3}
	for i := range n {
		e.createMydemo(fmt.Sprintf("db-%d", i), crddemov1.MydemoSpec{IP: host.Addr(i + 1).String(), Port: port, Probe: probe})
	}
	for i := range n {
		e.waitCondition(fmt.Sprintf("db-%d", i), crddemov1.ConditionReady, metav1.ConditionTrue, "", converge)
	}
	first.stop()

	// What the killed process left: the target is down and every slice
	// already says so; the statuses still say Reachable.
	if err := host.StopServing(port); err != nil {
		t.Fatal(err)
	}
	slices, err := e.kube.DiscoveryV1().EndpointSlices(e.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range slices.Items {
		s := &slices.Items[i]
		for j := range s.Endpoints {
			s.Endpoints[j].Conditions.Ready = ptr.To(false)
			s.Endpoints[j].Conditions.Serving = ptr.To(false)
		}
		if _, err := e.kube.DiscoveryV1().EndpointSlices(e.ns).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		md := e.getMydemo(fmt.Sprintf("db-%d", i))
		if len(md.Status.Endpoints) != 1 || md.Status.Endpoints[0].Probe != crddemov1.ProbeReachable {
			t.Fatalf("%s: status %+v, want one Reachable endpoint", md.Name, md.Status.Endpoints)
		}
	}
	// Watched from a list taken after those writes: every later write is
	// the new process's.
	after, err := e.kube.DiscoveryV1().EndpointSlices(e.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stopWatch := e.watchSlices(metav1.ListOptions{ResourceVersion: after.ResourceVersion},
		func(_ watch.EventType, s *discoveryv1.EndpointSlice) (bool, string) {
			for _, ep := range s.Endpoints {
				if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
					return true, fmt.Sprintf("endpoint %v published ready after the restart", ep.Addresses)
				}
			}
			return false, ""
		})

	second := e.startController()
	// The new process says what its slices say: every status turns
	// Unreachable, from its first sync, without waiting for a probe.
	for i := range n {
		e.waitCondition(fmt.Sprintf("db-%d", i), crddemov1.ConditionReachable, metav1.ConditionFalse, "", converge)
	}
	// Then every target's first probe (seeded targets are probed within
	// one period) has come and gone: nothing may have flipped meanwhile.
	time.Sleep(time.Duration(probe.PeriodSeconds)*time.Second + 2*time.Second)
	second.stop()
	if f := stopWatch(); f > 0 {
		t.Fatalf("%d slice writes published an endpoint ready again after the restart", f)
	}
}
