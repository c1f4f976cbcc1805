package metrics

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/testutil"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/controller"
)

func mydemo(ns, name string, eps []crddemov1.EndpointStatus, conds ...metav1.Condition) *crddemov1.Mydemo {
	md := &crddemov1.Mydemo{Status: crddemov1.MydemoStatus{Endpoints: eps, Conditions: conds}}
	md.Namespace, md.Name = ns, name
	return md
}

var (
	epReady    = crddemov1.EndpointStatus{Published: true, Ready: true, Probe: crddemov1.ProbeReachable}
	epNotReady = crddemov1.EndpointStatus{Published: true, Probe: crddemov1.ProbeUnreachable}
	epUnknown  = crddemov1.EndpointStatus{Published: true, Probe: crddemov1.ProbeUnknown}
	epRefused  = crddemov1.EndpointStatus{Reason: "ClusterNetwork", Probe: crddemov1.ProbeNotProbed}
	epDraining = crddemov1.EndpointStatus{Published: true, Reason: controller.ReasonDraining, Probe: crddemov1.ProbeReachable}
	// Refused by no address rule: the cluster serves no Service of its
	// family.
	epUnserved = crddemov1.EndpointStatus{Reason: controller.ReasonFamilyNotServed, Probe: crddemov1.ProbeNotProbed}
)

func cond(t string, s metav1.ConditionStatus) metav1.Condition {
	return metav1.Condition{Type: t, Status: s}
}

// TestMydemoCollector: each Mydemo has its five endpoint counts (zeros
// included; an address of a family the cluster does not serve is
// unserved, not refused: no address rule refused it) and one series per condition at its current status; Unknown
// before the controller set one, and no CertificateValid series without
// the condition.
func TestMydemoCollector(t *testing.T) {
	lister := staticLister{
		mydemo("shop", "api",
			[]crddemov1.EndpointStatus{epReady, epReady, epNotReady, epUnknown, epRefused, epDraining, epUnserved, epUnserved},
			cond(crddemov1.ConditionPublished, metav1.ConditionTrue),
			cond(crddemov1.ConditionReachable, metav1.ConditionFalse),
			cond(crddemov1.ConditionReady, metav1.ConditionTrue),
			cond(crddemov1.ConditionCertificateValid, metav1.ConditionFalse)),
		// Not synced yet.
		mydemo("web", "new", nil),
	}
	reg := metrics.NewKubeRegistry()
	reg.CustomMustRegister(&mydemoCollector{lister: lister})
	want := `
# HELP crddemo_mydemo_endpoints [ALPHA] Endpoints of one Mydemo by state (ready, not_ready, refused, draining, unserved), from status.endpoints in the controller's cache.
# TYPE crddemo_mydemo_endpoints gauge
crddemo_mydemo_endpoints{name="api",namespace="shop",state="draining"} 1
crddemo_mydemo_endpoints{name="api",namespace="shop",state="not_ready"} 2
crddemo_mydemo_endpoints{name="api",namespace="shop",state="ready"} 2
crddemo_mydemo_endpoints{name="api",namespace="shop",state="refused"} 1
crddemo_mydemo_endpoints{name="api",namespace="shop",state="unserved"} 2
crddemo_mydemo_endpoints{name="new",namespace="web",state="draining"} 0
crddemo_mydemo_endpoints{name="new",namespace="web",state="not_ready"} 0
crddemo_mydemo_endpoints{name="new",namespace="web",state="ready"} 0
crddemo_mydemo_endpoints{name="new",namespace="web",state="refused"} 0
crddemo_mydemo_endpoints{name="new",namespace="web",state="unserved"} 0
# HELP crddemo_mydemo_status_condition [ALPHA] 1 for the current status (True, False, Unknown) of each condition of one Mydemo, from the controller's cache: one series per Mydemo and condition.
# TYPE crddemo_mydemo_status_condition gauge
crddemo_mydemo_status_condition{condition="CertificateValid",name="api",namespace="shop",status="False"} 1
crddemo_mydemo_status_condition{condition="Published",name="api",namespace="shop",status="True"} 1
crddemo_mydemo_status_condition{condition="Reachable",name="api",namespace="shop",status="False"} 1
crddemo_mydemo_status_condition{condition="Ready",name="api",namespace="shop",status="True"} 1
crddemo_mydemo_status_condition{condition="Published",name="new",namespace="web",status="Unknown"} 1
crddemo_mydemo_status_condition{condition="Reachable",name="new",namespace="web",status="Unknown"} 1
crddemo_mydemo_status_condition{condition="Ready",name="new",namespace="web",status="Unknown"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "crddemo_mydemo_endpoints", "crddemo_mydemo_status_condition"); err != nil {
		t.Fatal(err)
	}
}

// TestMydemoRoleCollector: each role in status.roles has the count of
// endpoints its Service publishes, 0 included, so that an empty role
// (its primary gone, or a conflict) shows while the Mydemo's own Service
// is Ready; a Mydemo without roles has no such series.
func TestMydemoRoleCollector(t *testing.T) {
	withRoles := mydemo("shop", "db", []crddemov1.EndpointStatus{epReady, epReady},
		cond(crddemov1.ConditionReady, metav1.ConditionTrue))
	withRoles.Status.Roles = []crddemov1.RoleStatus{
		{Name: "primary", Ready: 0, Passing: 2, Reason: crddemov1.RoleConflict},
		{Name: "replica", Ready: 2, Passing: 2, Reason: crddemov1.RoleReady},
	}
	lister := staticLister{withRoles, mydemo("shop", "api", []crddemov1.EndpointStatus{epReady})}
	reg := metrics.NewKubeRegistry()
	reg.CustomMustRegister(&mydemoCollector{lister: lister})
	want := `
# HELP crddemo_mydemo_role_endpoints [ALPHA] Endpoints the Service of one role of one Mydemo publishes (status.roles[].ready), from the controller's cache: one series per Mydemo and role.
# TYPE crddemo_mydemo_role_endpoints gauge
crddemo_mydemo_role_endpoints{name="db",namespace="shop",role="primary"} 0
crddemo_mydemo_role_endpoints{name="db",namespace="shop",role="replica"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "crddemo_mydemo_role_endpoints"); err != nil {
		t.Fatal(err)
	}
}

// benchmarkFleet is n Mydemos of three endpoints each (two ready, one
// not), with the three conditions the controller always sets.
func benchmarkFleet(n int) staticLister {
	fleet := make(staticLister, n)
	for i := range fleet {
		fleet[i] = mydemo(fmt.Sprintf("ns-%d", i%100), fmt.Sprintf("mydemo-%d", i),
			[]crddemov1.EndpointStatus{epReady, epReady, epNotReady},
			cond(crddemov1.ConditionPublished, metav1.ConditionTrue),
			cond(crddemov1.ConditionReachable, metav1.ConditionTrue),
			cond(crddemov1.ConditionReady, metav1.ConditionTrue))
	}
	return fleet
}

// BenchmarkScrape50000Endpoints: one scrape of the same collectors when
// the endpoints are many and the Mydemos few: 50 Mydemos of 1,000
// endpoints (the most one may have), each with a certificate, so that
// every collector walks all 50,000. The series stay ten per Mydemo; the
// walk is what a tenant's large Mydemos add to each scrape.
func BenchmarkScrape50000Endpoints(b *testing.B) {
	notAfter := metav1.NewTime(time.Now().Add(time.Hour))
	lister := make(staticLister, 50)
	for i := range lister {
		eps := make([]crddemov1.EndpointStatus, 1000)
		for j := range eps {
			eps[j] = epReady
			eps[j].CertificateNotAfter = &notAfter
		}
		lister[i] = mydemo("shop", fmt.Sprintf("mydemo-%d", i), eps,
			cond(crddemov1.ConditionPublished, metav1.ConditionTrue),
			cond(crddemov1.ConditionReachable, metav1.ConditionTrue),
			cond(crddemov1.ConditionReady, metav1.ConditionTrue),
			cond(crddemov1.ConditionCertificateValid, metav1.ConditionTrue))
	}
	benchmarkScrape(b, lister)
}

// BenchmarkScrape10000: one scrape of the per-Mydemo collectors (this
// file's, the fleet counts and the certificate expiry) at 10,000 Mydemos,
// through the HTTP handler as Prometheus receives it (text format, no
// compression). It reports the series and the bytes of one scrape.
func BenchmarkScrape10000(b *testing.B) {
	benchmarkScrape(b, benchmarkFleet(10_000))
}

// benchmarkScrape scrapes the per-Mydemo collectors over lister through
// the HTTP handler and reports the series and bytes of one scrape.
func benchmarkScrape(b *testing.B, lister staticLister) {
	reg := metrics.NewKubeRegistry()
	reg.CustomMustRegister(newConditionCollector(lister), &mydemoCollector{lister: lister}, &certificateCollector{lister: lister})
	handler := metrics.HandlerFor(reg, metrics.HandlerOpts{})
	var body []byte
	for b.Loop() {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("scrape: %d %s", rec.Code, rec.Body)
		}
		body = rec.Body.Bytes()
	}
	series := 0
	for _, line := range strings.Split(string(body), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			series++
		}
	}
	b.ReportMetric(float64(series), "series")
	b.ReportMetric(float64(len(body)), "bytes/scrape")
}
