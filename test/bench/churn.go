package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/test/framework"
)

// ChurnResult is how fast one Mydemo's endpoint follows its program going
// down and coming back, with N others in the background.
type ChurnResult struct {
	PeriodSeconds    int `json:"period_seconds"`
	FailureThreshold int `json:"failure_threshold"`
	SuccessThreshold int `json:"success_threshold"`
	// DownSeconds[i]: StopServing until the endpoint was ready=false;
	// UpSeconds[i]: Serve until it was ready=true again.
	DownSeconds []float64 `json:"down_seconds"`
	UpSeconds   []float64 `json:"up_seconds"`
	DownMedian  float64   `json:"down_median_seconds"`
	UpMedian    float64   `json:"up_median_seconds"`
	DownMax     float64   `json:"down_max_seconds"`
	UpMax       float64   `json:"up_max_seconds"`
	// OthersReady is how many of the N kept a ready endpoint.
	OthersReady int `json:"others_ready"`
	// Flips is the number of transitions (down and up) measured, and
	// WritesPerFlip the API server's writes per transition by
	// "resource VERB" (the N others are at rest meanwhile).
	Flips         int                `json:"flips"`
	WritesPerFlip map[string]float64 `json:"writes_per_flip"`
}

// runChurn adds one Mydemo on its own port of the test host, so stopping
// its server leaves the N reachable, probed every second with failure
// threshold 1 so the figure is about the controller, not the thresholds.
func runChurn(ctx context.Context, e *env, res *Results) error {
	r := &ChurnResult{PeriodSeconds: 1, FailureThreshold: 1, SuccessThreshold: 1}
	res.Churn = r
	if err := e.host.Serve(churnPort); err != nil {
		return err
	}
	spec := crddemov1.MydemoSpec{
		IP:   e.host.Addr(len(e.names)*e.cfg.Endpoints + 1).String(),
		Port: churnPort,
		Probe: &crddemov1.Probe{
			Type:             crddemov1.ProbeTypeTCP,
			PeriodSeconds:    int32(r.PeriodSeconds),
			TimeoutSeconds:   1,
			FailureThreshold: int32(r.FailureThreshold),
			SuccessThreshold: int32(r.SuccessThreshold),
		},
	}
	if err := e.checkProbeTarget(spec); err != nil {
		return err
	}
	if _, err := e.client.CrddemoV1().Mydemos(benchNamespace).Create(ctx, &crddemov1.Mydemo{
		ObjectMeta: metav1.ObjectMeta{Name: churnName},
		Spec:       spec,
	}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating the churn Mydemo: %w", err)
	}
	if _, err := e.waitEndpoint(ctx, true, time.Time{}); err != nil {
		return err
	}

	// Count from a quiet controller: the churn Mydemo's create, and the
	// memory phase's fat Mydemos before it, still have statuses and Events
	// to write, which are not the flips' cost.
	idle, err := waitIdle(ctx, e.ctrl, idleWait{window: 2 * e.cfg.IdleWindow, timeout: e.cfg.Timeout})
	if err != nil {
		return err
	}
	if !idle.idle {
		return fmt.Errorf("the controller did not become quiet within %s before the churn", e.cfg.Timeout)
	}
	ctrlBefore, srvBefore, err := e.scrapeBoth(ctx)
	if err != nil {
		return err
	}
	period := time.Duration(r.PeriodSeconds) * time.Second
	for rep := range e.cfg.ChurnReps {
		// Each change lands at a random point of the probe period, so the
		// figures average over the wait for the next probe (period/2 on
		// average) instead of always catching the same phase.
		if err := sleepCtx(ctx, rand.N(period)); err != nil {
			return err
		}
		stopped := time.Now()
		if err := e.host.StopServing(churnPort); err != nil {
			return err
		}
		at, err := e.waitEndpoint(ctx, false, stopped)
		if err != nil {
			return err
		}
		r.DownSeconds = append(r.DownSeconds, at.Sub(stopped).Seconds())

		if err := sleepCtx(ctx, rand.N(period)); err != nil {
			return err
		}
		served := time.Now()
		if err := e.host.Serve(churnPort); err != nil {
			return err
		}
		at, err = e.waitEndpoint(ctx, true, served)
		if err != nil {
			return err
		}
		r.UpSeconds = append(r.UpSeconds, at.Sub(served).Seconds())
		e.cfg.Logf("churn %d: down after %.2fs, up after %.2fs", rep+1, r.DownSeconds[rep], r.UpSeconds[rep])
	}
	// The status write and Event of the last flip follow the slice write.
	if err := sleepCtx(ctx, 2*time.Second); err != nil {
		return err
	}
	ctrlAfter, srvAfter, err := e.scrapeBoth(ctx)
	if err != nil {
		return err
	}
	r.Flips = 2 * e.cfg.ChurnReps
	r.WritesPerFlip = map[string]float64{}
	for k, v := range countWrites(ctrlBefore, ctrlAfter, srvBefore, srvAfter).ServerWrites {
		r.WritesPerFlip[k] = float64(v) / float64(r.Flips)
	}
	r.DownMedian, r.DownMax = medianMax(r.DownSeconds)
	r.UpMedian, r.UpMax = medianMax(r.UpSeconds)
	r.OthersReady = e.tracker.progress(e.names).endpointsReady
	return nil
}

// waitEndpoint waits until the churn Mydemo's endpoint is ready=want,
// changed after since, and returns when the bench saw the change.
func (e *env) waitEndpoint(ctx context.Context, want bool, since time.Time) (time.Time, error) {
	var at time.Time
	err := framework.Poll(ctx, e.cfg.Timeout, 5*time.Millisecond, fmt.Sprintf("the churn endpoint ready=%v", want), func() (bool, string, error) {
		ready, changed := e.tracker.endpoint(churnName)
		if ready == nil {
			return false, "no endpoint yet", nil
		}
		at = changed
		return *ready == want && !changed.Before(since), fmt.Sprintf("ready=%v", *ready), nil
	})
	return at, err
}

// OutageResult is how fast all N endpoints follow their (shared) server
// going down and coming back, with the default thresholds: the case where
// a peer left most endpoints stale for minutes.
type OutageResult struct {
	PeriodSeconds    int `json:"period_seconds"`
	FailureThreshold int `json:"failure_threshold"`
	// AllDownSeconds is when every endpoint was not ready in its slice
	// (traffic moved), AllUpSeconds when every one was ready again.
	AllDownSeconds float64   `json:"all_down_seconds"`
	AllUpSeconds   float64   `json:"all_up_seconds"`
	Down           OutageLeg `json:"down"`
	Up             OutageLeg `json:"up"`
	Writes         int64     `json:"writes"`
	EventsDropped  int64     `json:"events_dropped"`
	// ServerBackSeconds is when the server came back, in seconds from its
	// stop. The series count the endpoints ready (in their slices) and
	// the Mydemos with Ready=True over the whole outage, in seconds from
	// the stop, for the outage plot.
	ServerBackSeconds    float64 `json:"server_back_seconds"`
	EndpointsReadySeries []Point `json:"endpoints_ready_series,omitempty"`
	ReadySeries          []Point `json:"ready_series,omitempty"`
}

// OutageLeg is one direction of the outage: what followed the slices.
type OutageLeg struct {
	// SlicesSeconds: every endpoint in its slice has the new readiness.
	SlicesSeconds float64 `json:"slices_seconds"`
	// StatusSeconds: every Mydemo's Ready condition says so too.
	StatusSeconds float64 `json:"status_seconds"`
	// EventsSeconds: the controller's Event queue is empty again, so every
	// Event of the transition has reached the API server.
	EventsSeconds float64 `json:"events_seconds"`
	// Events is the number of Event writes (creates and patches) the API
	// server counted in the leg, from every client; ServerWrites all of
	// them by resource.
	Events       int64            `json:"events"`
	ServerWrites map[string]int64 `json:"server_writes"`

	// began is when the leg's action (stop or serve) was taken.
	began time.Time
}

// runOutage stops the N Mydemos' server, waits until every endpoint is not
// ready, then until every status and every Event has followed, serves again
// and does the same the other way.
func runOutage(ctx context.Context, e *env, res *Results) error {
	r := &OutageResult{PeriodSeconds: int(e.cfg.ProbePeriod / time.Second), FailureThreshold: 3}
	res.Outage = r
	// Events of the earlier phases must not be counted as the outage's.
	if _, err := waitEventsWritten(ctx, e); err != nil {
		return err
	}
	before, err := scrape(ctx, e.ctrl)
	if err != nil {
		return err
	}
	n := len(e.names)
	r.Down, err = outageLeg(ctx, e, 0, func() error { return e.host.StopServing(servePort) })
	if err != nil {
		return err
	}
	r.AllDownSeconds = r.Down.SlicesSeconds
	e.cfg.Logf("outage: all %d endpoints not ready after %.1fs, every status after %.1fs, Events written after %.1fs (%d)",
		n, r.Down.SlicesSeconds, r.Down.StatusSeconds, r.Down.EventsSeconds, r.Down.Events)

	r.Up, err = outageLeg(ctx, e, n, func() error { return e.host.Serve(servePort) })
	if err != nil {
		return err
	}
	r.AllUpSeconds = r.Up.SlicesSeconds
	r.ServerBackSeconds = r.Up.began.Sub(r.Down.began).Seconds()
	end := r.Up.began.Add(time.Duration(max(r.Up.SlicesSeconds, r.Up.StatusSeconds) * float64(time.Second)))
	r.EndpointsReadySeries = e.tracker.countSeries(e.names, endpointFlips, r.Down.began, end)
	r.ReadySeries = e.tracker.countSeries(e.names, readyFlips, r.Down.began, end)
	after, err := scrape(ctx, e.ctrl)
	if err != nil {
		return err
	}
	r.Writes = int64(after.writes() - before.writes())
	r.EventsDropped = int64(after.eventsDropped - before.eventsDropped)
	e.cfg.Logf("outage: all %d endpoints ready again after %.1fs, every status after %.1fs, Events written after %.1fs (%d); %d writes, %d Events dropped",
		n, r.Up.SlicesSeconds, r.Up.StatusSeconds, r.Up.EventsSeconds, r.Up.Events, r.Writes, r.EventsDropped)
	return nil
}

// outageLeg acts, then times the slices, the statuses and the Events
// reaching wantReady ready endpoints (and Ready Mydemos) of the N.
func outageLeg(ctx context.Context, e *env, wantReady int, act func() error) (OutageLeg, error) {
	var leg OutageLeg
	before, err := e.scrapeServer(ctx)
	if err != nil {
		return leg, err
	}
	start := time.Now()
	leg.began = start
	if err := act(); err != nil {
		return leg, err
	}
	// waitCount waits until count of the tracker's progress is wantReady
	// and returns the seconds since start.
	waitCount := func(what string, count func(progress) int) (float64, error) {
		err := framework.Poll(ctx, e.cfg.Timeout, 100*time.Millisecond, fmt.Sprintf("%d %s", wantReady, what), func() (bool, string, error) {
			p := e.tracker.progress(e.names)
			return count(p) == wantReady, p.String(), nil
		})
		return time.Since(start).Seconds(), err
	}
	if leg.SlicesSeconds, err = waitCount("endpoints ready", func(p progress) int { return p.endpointsReady }); err != nil {
		return leg, err
	}
	if leg.StatusSeconds, err = waitCount("Mydemos Ready", func(p progress) int { return p.ready }); err != nil {
		return leg, err
	}
	at, err := waitEventsWritten(ctx, e)
	if err != nil {
		return leg, err
	}
	leg.EventsSeconds = at.Sub(start).Seconds()
	after, err := e.scrapeServer(ctx)
	if err != nil {
		return leg, err
	}
	leg.ServerWrites = diffMap(before.writesByResource, after.writesByResource)
	leg.Events = leg.ServerWrites["events POST"] + leg.ServerWrites["events PATCH"]
	return leg, nil
}

// waitEventsWritten waits until the controller has no Event left to write
// in two scrapes in a row (an Event is recorded just after the status write
// the bench may already have seen), and returns the time of the first.
func waitEventsWritten(ctx context.Context, e *env) (time.Time, error) {
	var empty time.Time
	err := framework.Poll(ctx, e.cfg.Timeout, 200*time.Millisecond, "every Event written", func() (bool, string, error) {
		s, err := scrape(ctx, e.ctrl)
		if err != nil {
			return false, "", err
		}
		if !s.hasEventStats {
			return false, "", fmt.Errorf("the controller's /metrics lacks %s or %s", metricEventsPending, metricEventsDropped)
		}
		if s.eventsUnwritten > 0 {
			empty = time.Time{}
			return false, fmt.Sprintf("%.0f Events unwritten", s.eventsUnwritten), nil
		}
		if empty.IsZero() {
			empty = s.at
			return false, "no Event unwritten", nil
		}
		return true, "", nil
	})
	return empty, err
}

func medianMax(v []float64) (median, maxV float64) {
	if len(v) == 0 {
		return 0, 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2], s[len(s)-1]
}
