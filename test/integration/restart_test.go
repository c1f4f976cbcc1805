package integration

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/test/testhost"
)

// TestRestartWritesNothing: a controller started on converged Mydemos —
// probed ones, reachable and unreachable, and unprobed ones — sends no
// write request at all: it starts from the verdicts the statuses record.
func TestRestartWritesNothing(t *testing.T) {
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
