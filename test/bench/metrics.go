package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/crddemo/crddemo/test/framework"
)

// scrapeAPIServer fetches the API server's own /metrics as an admin.
func scrapeAPIServer(ctx context.Context, kube kubernetes.Interface) (framework.Metrics, error) {
	raw, err := kube.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("scraping the API server's /metrics: %w", err)
	}
	m, err := framework.ParseMetrics(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("scraping the API server's /metrics: %w", err)
	}
	return m, nil
}

// Names of the metrics the bench reads.
const (
	metricRESTRequests  = "rest_client_requests_total"
	metricRateLimiter   = "rest_client_rate_limiter_duration_seconds_sum"
	metricQueueDepth    = "workqueue_depth"
	metricQueueAdds     = "workqueue_adds_total"
	metricSyncs         = "crddemo_syncs_total"
	metricProbes        = "crddemo_probes_total"
	metricProbesLate    = "crddemo_probes_late_total"
	metricServerRequest = "apiserver_request_total"
	metricGoHeapInuse   = "go_memstats_heap_inuse_bytes"
	metricEventsPending = "crddemo_events_unwritten"
	metricEventsDropped = "crddemo_events_dropped_total"
	queueName           = "mydemo-controller"
)

// writeMethods are the HTTP methods that change something.
var writeMethods = []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// serverWriteVerbs are the apiserver_request_total verbs that change
// something.
var serverWriteVerbs = map[string]bool{
	"POST": true, "PUT": true, "PATCH": true, "APPLY": true, "DELETE": true, "DELETECOLLECTION": true,
}

// controllerSnapshot is what the bench reads from one scrape of the
// controller.
type controllerSnapshot struct {
	at          time.Time
	byMethod    map[string]float64 // rest_client_requests_total by method
	throttled   float64            // seconds spent in the client-side rate limiter
	depth       float64
	adds        float64
	syncs       float64
	syncsByRes  map[string]float64
	probes      float64
	probesLate  float64
	heapInuse   float64
	hasHeapStat bool
	// Events recorded and not yet written, and dropped since start.
	eventsUnwritten, eventsDropped float64
	hasEventStats                  bool
	// lateness is the probe lateness histogram, nil if not exported.
	lateness *LatenessHistogram
}

func snapshotController(m framework.Metrics) controllerSnapshot {
	q := map[string]string{"name": queueName}
	return controllerSnapshot{
		at:          time.Now(),
		byMethod:    m.ByLabel(metricRESTRequests, "method", nil),
		throttled:   m.Sum(metricRateLimiter, nil),
		depth:       m.Sum(metricQueueDepth, q),
		adds:        m.Sum(metricQueueAdds, q),
		syncs:       m.Sum(metricSyncs, nil),
		syncsByRes:  m.ByLabel(metricSyncs, "result", nil),
		probes:      m.Sum(metricProbes, nil),
		probesLate:  m.Sum(metricProbesLate, nil),
		heapInuse:   m.Sum(metricGoHeapInuse, nil),
		hasHeapStat: m.Has(metricGoHeapInuse),

		eventsUnwritten: m.Sum(metricEventsPending, nil),
		eventsDropped:   m.Sum(metricEventsDropped, nil),
		hasEventStats:   m.Has(metricEventsPending) && m.Has(metricEventsDropped),
		lateness:        latenessHistogram(m),
	}
}

// writes is the number of POST, PUT, PATCH and DELETE requests.
func (s controllerSnapshot) writes() float64 {
	var n float64
	for _, m := range writeMethods {
		n += s.byMethod[m]
	}
	return n
}

// serverCounts is apiserver_request_total reduced to what the bench needs:
// write requests by resource, and creations of SelfSubjectAccessReviews.
type serverCounts struct {
	writesByResource map[string]float64 // "resource[/subresource] VERB"
	accessReviews    float64
}

func countServer(m framework.Metrics) serverCounts {
	c := serverCounts{writesByResource: map[string]float64{}}
	for _, s := range m {
		if s.Name != metricServerRequest {
			continue
		}
		verb := s.Labels["verb"]
		res := s.Labels["resource"]
		if res == "selfsubjectaccessreviews" && verb == "POST" {
			c.accessReviews += s.Value
			continue
		}
		if !serverWriteVerbs[verb] {
			continue
		}
		if sub := s.Labels["subresource"]; sub != "" {
			res += "/" + sub
		}
		c.writesByResource[res+" "+verb] += s.Value
	}
	return c
}

// diffMap returns after-before for every key, dropping zeros.
func diffMap(before, after map[string]float64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range after {
		if d := int64(v - before[k]); d != 0 {
			out[k] = d
		}
	}
	for k, v := range before {
		if _, ok := after[k]; !ok && v != 0 {
			out[k] = -int64(v)
		}
	}
	return out
}

// sumValues adds up a map's values.
func sumValues(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}
