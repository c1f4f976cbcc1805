// Package metrics defines the controller's own Prometheus metrics and
// serves them, with client-go's workqueue, REST client and leader-election
// metrics, from component-base's registry.
package metrics

import (
	"net/http"
	"time"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
	// Registers client-go's workqueue, REST client and leader-election
	// metrics with the legacy registry.
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
)

const namespace = "crddemo"

// Metrics are the controller's own collectors.
type Metrics struct {
	syncs         *metrics.CounterVec
	syncDuration  *metrics.HistogramVec
	probes        *metrics.CounterVec
	probeDuration *metrics.HistogramVec
}

// New creates the collectors. Register them once with Register.
func New() *Metrics {
	return &Metrics{
		syncs: metrics.NewCounterVec(&metrics.CounterOpts{
			Namespace:      namespace,
			Name:           "syncs_total",
			Help:           "Mydemo syncs by result: success, retry (conflict or stale cache) or error.",
			StabilityLevel: metrics.ALPHA,
		}, []string{"result"}),
		syncDuration: metrics.NewHistogramVec(&metrics.HistogramOpts{
			Namespace:      namespace,
			Name:           "sync_duration_seconds",
			Help:           "Duration of one Mydemo sync.",
			Buckets:        metrics.ExponentialBuckets(0.0005, 2, 16),
			StabilityLevel: metrics.ALPHA,
		}, []string{"result"}),
		probes: metrics.NewCounterVec(&metrics.CounterOpts{
			Namespace:      namespace,
			Name:           "probes_total",
			Help:           "TCP probes by result: success or failure.",
			StabilityLevel: metrics.ALPHA,
		}, []string{"result"}),
		probeDuration: metrics.NewHistogramVec(&metrics.HistogramOpts{
			Namespace:      namespace,
			Name:           "probe_duration_seconds",
			Help:           "Duration of one TCP probe.",
			Buckets:        metrics.ExponentialBuckets(0.0001, 2, 16),
			StabilityLevel: metrics.ALPHA,
		}, []string{"result"}),
	}
}

// Register adds the collectors, and a gauge of Mydemos by condition read
// from lister on every scrape, to the legacy registry that Handler serves.
func (m *Metrics) Register(conditions ConditionLister) {
	legacyregistry.MustRegister(m.syncs, m.syncDuration, m.probes, m.probeDuration)
	if conditions != nil {
		legacyregistry.CustomMustRegister(newConditionCollector(conditions))
	}
}

// ObserveSync records one sync (controller.SyncObserver).
func (m *Metrics) ObserveSync(result string, d time.Duration) {
	m.syncs.WithLabelValues(result).Inc()
	m.syncDuration.WithLabelValues(result).Observe(d.Seconds())
}

// ObserveProbe records one probe (the prober's Observe hook).
func (m *Metrics) ObserveProbe(result string, d time.Duration) {
	m.probes.WithLabelValues(result).Inc()
	m.probeDuration.WithLabelValues(result).Observe(d.Seconds())
}

// Handler serves every registered metric in the Prometheus text format.
func Handler() http.Handler {
	return legacyregistry.Handler()
}
