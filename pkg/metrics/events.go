package metrics

import (
	"k8s.io/component-base/metrics"
)

// EventQueue reports the controller's Event queue: Events recorded and not
// yet written to the API server, and Events dropped since start because
// the queue was full.
type EventQueue func() (unwritten, dropped int64)

var (
	eventsUnwrittenDesc = metrics.NewDesc(namespace+"_events_unwritten",
		"Events recorded and not yet written to the API server: queued, in flight or being retried.",
		nil, nil, metrics.ALPHA, "")
	eventsDroppedDesc = metrics.NewDesc(namespace+"_events_dropped_total",
		"Events dropped because too many were waiting to be written; each drop is also logged.",
		nil, nil, metrics.ALPHA, "")
)

// eventCollector reads the Event queue's counters at scrape time, so that
// recording an Event costs no metric update.
type eventCollector struct {
	metrics.BaseStableCollector
	queue EventQueue
}

func (c *eventCollector) DescribeWithStability(ch chan<- *metrics.Desc) {
	ch <- eventsUnwrittenDesc
	ch <- eventsDroppedDesc
}

func (c *eventCollector) CollectWithStability(ch chan<- metrics.Metric) {
	unwritten, dropped := c.queue()
	ch <- metrics.NewLazyConstMetric(eventsUnwrittenDesc, metrics.GaugeValue, float64(unwritten))
	ch <- metrics.NewLazyConstMetric(eventsDroppedDesc, metrics.CounterValue, float64(dropped))
}
