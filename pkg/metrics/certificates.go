package metrics

import (
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/component-base/metrics"
)

var certificateNotAfterDesc = metrics.NewDesc(namespace+"_certificate_not_after_timestamp_seconds",
	"The earliest notAfter, as a Unix time, of the certificates the TLS probes of a Mydemo's published endpoints saw (status.endpoints[].certificateNotAfter), from the controller's cache. Only Mydemos with such a certificate have a series.",
	[]string{"namespace", "name"}, nil, metrics.ALPHA, "")

// certificateCollector reports, at scrape time and from the cache, the
// earliest certificate expiry of each Mydemo: one series per Mydemo
// (never per endpoint or per certificate), so the cardinality is the
// number of Mydemos with TLS probes, and a probe costs no metric work.
// Alerting on it ("expires within 7 days": the value minus time()) works
// whatever --certificate-expiry-warning says.
type certificateCollector struct {
	metrics.BaseStableCollector
	lister ConditionLister
}

func (c *certificateCollector) DescribeWithStability(ch chan<- *metrics.Desc) {
	ch <- certificateNotAfterDesc
}

func (c *certificateCollector) CollectWithStability(ch chan<- metrics.Metric) {
	mydemos, err := c.lister.List(labels.Everything())
	if err != nil {
		return
	}
	for _, md := range mydemos {
		var earliest float64
		found := false
		for _, e := range md.Status.Endpoints {
			if !e.Published || e.CertificateNotAfter == nil {
				continue
			}
			if t := float64(e.CertificateNotAfter.Unix()); !found || t < earliest {
				earliest, found = t, true
			}
		}
		if found {
			ch <- metrics.NewLazyConstMetric(certificateNotAfterDesc, metrics.GaugeValue, earliest, md.Namespace, md.Name)
		}
	}
}
