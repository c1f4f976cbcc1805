package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
)

// sample is one line of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// metricSet is one scrape.
type metricSet []sample

// sum adds up every sample of name whose labels include all of match.
func (m metricSet) sum(name string, match map[string]string) float64 {
	var total float64
	for _, s := range m {
		if s.name != name || !hasLabels(s.labels, match) {
			continue
		}
		total += s.value
	}
	return total
}

// has reports whether the scrape contains name at all.
func (m metricSet) has(name string) bool {
	for _, s := range m {
		if s.name == name {
			return true
		}
	}
	return false
}

// byLabel adds up the samples of name matching match, grouped by the value
// of label.
func (m metricSet) byLabel(name, label string, match map[string]string) map[string]float64 {
	out := map[string]float64{}
	for _, s := range m {
		if s.name != name || !hasLabels(s.labels, match) {
			continue
		}
		out[s.labels[label]] += s.value
	}
	return out
}

func hasLabels(labels, match map[string]string) bool {
	for k, v := range match {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// parseMetrics reads the Prometheus text exposition format. Comments,
// and samples it cannot read, are skipped; only a read error fails.
func parseMetrics(r io.Reader) (metricSet, error) {
	var out metricSet
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if s, ok := parseSample(line); ok {
			out = append(out, s)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading metrics: %w", err)
	}
	return out, nil
}

// parseSample reads `name{k="v",...} value [timestamp]`.
func parseSample(line string) (sample, bool) {
	s := sample{labels: map[string]string{}}
	end := strings.IndexAny(line, "{ ")
	if end <= 0 {
		return s, false
	}
	s.name = line[:end]
	rest := line[end:]
	if rest[0] == '{' {
		var ok bool
		rest, ok = parseLabels(rest[1:], s.labels)
		if !ok {
			return s, false
		}
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return s, false
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return s, false
	}
	s.value = v
	return s, true
}

// parseLabels reads `k="v",...}` into labels and returns what follows the
// closing brace.
func parseLabels(in string, labels map[string]string) (string, bool) {
	for {
		in = strings.TrimLeft(in, " ,")
		if in == "" {
			return "", false
		}
		if in[0] == '}' {
			return in[1:], true
		}
		eq := strings.IndexByte(in, '=')
		if eq <= 0 || len(in) < eq+2 || in[eq+1] != '"' {
			return "", false
		}
		key := strings.TrimSpace(in[:eq])
		in = in[eq+2:]
		var val strings.Builder
		closed := false
		for i := 0; i < len(in); i++ {
			c := in[i]
			if c == '\\' && i+1 < len(in) {
				i++
				switch in[i] {
				case 'n':
					val.WriteByte('\n')
				default:
					val.WriteByte(in[i])
				}
				continue
			}
			if c == '"' {
				in = in[i+1:]
				closed = true
				break
			}
			val.WriteByte(c)
		}
		if !closed {
			return "", false
		}
		labels[key] = val.String()
	}
}

// httpClient scrapes the controller's loopback endpoints.
var httpClient = &http.Client{Timeout: 10 * time.Second}

// scrapeURL fetches and parses a /metrics page served over plain HTTP.
func scrapeURL(ctx context.Context, url string) (metricSet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("scraping %s: %w", url, err)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scraping %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scraping %s: HTTP %s", url, resp.Status)
	}
	m, err := parseMetrics(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("scraping %s: %w", url, err)
	}
	return m, nil
}

// scrapeAPIServer fetches the API server's own /metrics as an admin.
func scrapeAPIServer(ctx context.Context, kube kubernetes.Interface) (metricSet, error) {
	raw, err := kube.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("scraping the API server's /metrics: %w", err)
	}
	m, err := parseMetrics(bytes.NewReader(raw))
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
}

func snapshotController(m metricSet) controllerSnapshot {
	q := map[string]string{"name": queueName}
	return controllerSnapshot{
		at:          time.Now(),
		byMethod:    m.byLabel(metricRESTRequests, "method", nil),
		throttled:   m.sum(metricRateLimiter, nil),
		depth:       m.sum(metricQueueDepth, q),
		adds:        m.sum(metricQueueAdds, q),
		syncs:       m.sum(metricSyncs, nil),
		syncsByRes:  m.byLabel(metricSyncs, "result", nil),
		probes:      m.sum(metricProbes, nil),
		probesLate:  m.sum(metricProbesLate, nil),
		heapInuse:   m.sum(metricGoHeapInuse, nil),
		hasHeapStat: m.has(metricGoHeapInuse),

		eventsUnwritten: m.sum(metricEventsPending, nil),
		eventsDropped:   m.sum(metricEventsDropped, nil),
		hasEventStats:   m.has(metricEventsPending) && m.has(metricEventsDropped),
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

func countServer(m metricSet) serverCounts {
	c := serverCounts{writesByResource: map[string]float64{}}
	for _, s := range m {
		if s.name != metricServerRequest {
			continue
		}
		verb := s.labels["verb"]
		res := s.labels["resource"]
		if res == "selfsubjectaccessreviews" && verb == "POST" {
			c.accessReviews += s.value
			continue
		}
		if !serverWriteVerbs[verb] {
			continue
		}
		if sub := s.labels["subresource"]; sub != "" {
			res += "/" + sub
		}
		c.writesByResource[res+" "+verb] += s.value
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
