package metrics

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/component-base/metrics/legacyregistry"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/controller"
	"github.com/crddemo/crddemo/pkg/probe"
)

// metricNamesFile lists the metrics the alert rules and the dashboard
// query; hack/promtool/monitoring checks the queries against it.
const metricNamesFile = "../../deploy/monitoring/metric-names.txt"

// TestMetricNamesExported registers the controller's metrics as the
// controller does (Register, and client-go's through this package's
// import), makes each family appear once (a vector has no series until it
// is used), and checks that the registry exports every name the rules
// and the dashboard may query.
func TestMetricNamesExported(t *testing.T) {
	tlsEnd := metav1.NewTime(time.Now().Add(time.Hour))
	m := New()
	withRole := mydemo("shop", "api", []crddemov1.EndpointStatus{{Published: true, CertificateNotAfter: &tlsEnd}})
	withRole.Status.Roles = []crddemov1.RoleStatus{{Name: "primary"}}
	m.Register(staticLister{withRole}, func() (int64, int64) { return 0, 0 })
	m.ObserveSync("success", time.Millisecond)
	m.ObserveProbe("success", time.Millisecond)
	m.ObserveProbeLateness(time.Millisecond)
	m.ObserveProbeLate(probe.SaturationEngine)
	// As with --sharding.
	RegisterShard(func() (int, int) { return 1, 1 })

	// The controller's work queue, by the name it gives it.
	q := workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: controller.ControllerName})
	defer q.ShutDown()
	q.AddRateLimited("shop/api")

	// A leader elector reports itself not leading from the start.
	_, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Namespace: "crddemo-system", Name: "mydemo-controller"},
			LockConfig: resourcelock.ResourceLockConfig{Identity: "test"},
		},
		LeaseDuration: 15 * time.Second,
		RenewDeadline: 10 * time.Second,
		RetryPeriod:   2 * time.Second,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) {},
			OnStoppedLeading: func() {},
		},
		Name: "mydemo-controller",
	})
	if err != nil {
		t.Fatal(err)
	}

	// One request of a clientset, answered by a local server.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"shop"}}`))
	}))
	defer srv.Close()
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Get(context.Background(), "shop", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}

	families, err := legacyregistry.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, f := range families {
		name := f.GetName()
		exported[name] = true
		// The series names a query sees.
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM:
			exported[name+"_bucket"], exported[name+"_sum"], exported[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			exported[name+"_sum"], exported[name+"_count"] = true, true
		}
	}

	file, err := os.Open(metricNamesFile)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	listed := 0
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		name := strings.TrimSpace(sc.Text())
		if name == "" || strings.HasPrefix(name, "#") {
			continue
		}
		listed++
		if !exported[name] {
			t.Errorf("%s lists %s, which the controller's registry does not export", metricNamesFile, name)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if listed == 0 {
		t.Fatalf("%s lists no metric", metricNamesFile)
	}
}
