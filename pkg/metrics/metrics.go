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
	probeLateness *metrics.Histogram
	probesLate    *metrics.CounterVec
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
			Help:           "Probes of every kind by result: success or failure.",
			StabilityLevel: metrics.ALPHA,
		}, []string{"result"}),
		// From 100 µs (a local TCP connect) to about 52 s: a probe that
		// runs to a timeout of up to half a minute (timeoutSeconds)
		// still lands in a finite bucket, so a p99 shows how long the
		// slow ones take rather than the last bound.
		probeDuration: metrics.NewHistogramVec(&metrics.HistogramOpts{
			Namespace:      namespace,
			Name:           "probe_duration_seconds",
			Help:           "Duration of one probe, from the connection attempt to the verdict.",
			Buckets:        metrics.ExponentialBuckets(0.0001, 2, 20),
			StabilityLevel: metrics.ALPHA,
		}, []string{"result"}),
		// From 1 ms to about 65 s: on time is well under the first
		// bucket; a saturated engine shows in the seconds.
		probeLateness: metrics.NewHistogram(&metrics.HistogramOpts{
			Namespace:      namespace,
			Name:           "probe_lateness_seconds",
			Help:           "How late each probe started against its schedule (due time, jitter included).",
			Buckets:        metrics.ExponentialBuckets(0.001, 2, 17),
			StabilityLevel: metrics.ALPHA,
		}),
		// By cause, so that one namespace using its own share, which
		// more slots would not cure, is told from a saturated engine.
		probesLate: metrics.NewCounterVec(&metrics.CounterOpts{
			Namespace:      namespace,
			Name:           "probes_late_total",
			Help:           "Probes that started more than 1 s late, by cause: engine (every probe slot was in use while it waited: the probe engine is saturated while this grows) or namespace_share (slots were free, but its namespace had used its share).",
			StabilityLevel: metrics.ALPHA,
		}, []string{"cause"}),
	}
}

// Register adds the collectors, a gauge of Mydemos by condition, each
// Mydemo's endpoints by state, conditions and roles' endpoints, and each
// Mydemo's earliest certificate expiry read from conditions, and the
// Event queue's counters read from events, all on every scrape, to the
// legacy registry that Handler serves. Either may be nil.
func (m *Metrics) Register(conditions ConditionLister, events EventQueue) {
	legacyregistry.MustRegister(m.syncs, m.syncDuration, m.probes, m.probeDuration, m.probeLateness, m.probesLate)
	if conditions != nil {
		legacyregistry.CustomMustRegister(newConditionCollector(conditions), &mydemoCollector{lister: conditions}, &certificateCollector{lister: conditions})
	}
	if events != nil {
		legacyregistry.CustomMustRegister(&eventCollector{queue: events})
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

// ObserveProbeLateness records how late one probe started (the prober's
// ObserveLateness hook).
func (m *Metrics) ObserveProbeLateness(d time.Duration) {
	m.probeLateness.Observe(d.Seconds())
}

// ObserveProbeLate counts one probe that started late, by cause
// (probe.SaturationEngine or probe.SaturationNamespaceShare; the prober's
// ObserveSaturated hook).
func (m *Metrics) ObserveProbeLate(cause string) {
	m.probesLate.WithLabelValues(cause).Inc()
}

// Handler serves every registered metric in the Prometheus text format.
func Handler() http.Handler {
	return legacyregistry.Handler()
}
