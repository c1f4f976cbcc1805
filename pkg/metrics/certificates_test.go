package metrics

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/testutil"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
)

func withEndpoints(ns, name string, eps ...crddemov1.EndpointStatus) *crddemov1.Mydemo {
	md := &crddemov1.Mydemo{Status: crddemov1.MydemoStatus{Endpoints: eps}}
	md.Namespace, md.Name = ns, name
	return md
}

func tlsEndpoint(published bool, notAfter time.Time) crddemov1.EndpointStatus {
	t := metav1.NewTime(notAfter)
	return crddemov1.EndpointStatus{Published: published, CertificateNotAfter: &t}
}

// TestCertificateCollector: one series per Mydemo with a certificate, the
// earliest of its published endpoints; none for a Mydemo without TLS.
func TestCertificateCollector(t *testing.T) {
	day := time.Unix(1_800_000_000, 0)
	lister := staticLister{
		withEndpoints("shop", "api",
			tlsEndpoint(true, day.Add(30*24*time.Hour)),
			tlsEndpoint(true, day.Add(24*time.Hour)),
			// Refused, so never probed: not counted.
			tlsEndpoint(false, day),
			crddemov1.EndpointStatus{Published: true}),
		withEndpoints("shop", "expired", tlsEndpoint(true, day.Add(-time.Hour))),
		withEndpoints("shop", "plain", crddemov1.EndpointStatus{Published: true}),
	}
	reg := metrics.NewKubeRegistry()
	reg.CustomMustRegister(&certificateCollector{lister: lister})
	want := `
# HELP crddemo_certificate_not_after_timestamp_seconds [ALPHA] The earliest notAfter, as a Unix time, of the certificates the TLS probes of a Mydemo's published endpoints saw (status.endpoints[].certificateNotAfter), from the controller's cache. Only Mydemos with such a certificate have a series.
# TYPE crddemo_certificate_not_after_timestamp_seconds gauge
crddemo_certificate_not_after_timestamp_seconds{name="api",namespace="shop"} 1.8000864e+09
crddemo_certificate_not_after_timestamp_seconds{name="expired",namespace="shop"} 1.7999964e+09
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "crddemo_certificate_not_after_timestamp_seconds"); err != nil {
		t.Fatal(err)
	}
}
