package integration

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
)

// TestRestartWritesNothing: a controller started on converged Mydemos
// sends no write request at all.
func TestRestartWritesNothing(t *testing.T) {
	e := newEnv(t)
	first := e.startController()
	const n = 25
	for i := range n {
		e.createMydemo(fmt.Sprintf("md-%d", i), unprobed(fmt.Sprintf("10.251.1.%d", i+1), 8080))
	}
	for i := range n {
		e.waitCondition(fmt.Sprintf("md-%d", i), crddemov1.ConditionReady, metav1.ConditionTrue, "", converge)
	}
	first.stop()

	second := e.startController()
	// Every Mydemo is synced once at start (the informers' initial list).
	e.eventually(converge, "every Mydemo synced after the restart", func() (bool, string) {
		return second.syncs.n.Load() >= n, fmt.Sprintf("%d syncs", second.syncs.n.Load())
	})
	// Let anything those syncs could have triggered (watch events of our
	// own writes, if there were any) come back and be synced too.
	time.Sleep(2 * time.Second)
	second.stop()
	if w := second.counter.writes(); w != 0 {
		t.Fatalf("restarted controller sent %d write requests (by method: %v)", w, second.counter.snapshot())
	}
	t.Logf("requests after restart: %v", second.counter.snapshot())
}
