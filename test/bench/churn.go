package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
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

	// Let the create's Event and status settle before counting.
	if err := sleepCtx(ctx, 2*time.Second); err != nil {
		return err
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
	err := waitFor(ctx, e.cfg.Timeout, 5*time.Millisecond, fmt.Sprintf("the churn endpoint ready=%v", want), func() (bool, string, error) {
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
	PeriodSeconds    int     `json:"period_seconds"`
	FailureThreshold int     `json:"failure_threshold"`
	AllDownSeconds   float64 `json:"all_down_seconds"`
	AllUpSeconds     float64 `json:"all_up_seconds"`
	Writes           int64   `json:"writes"`
}

// runOutage stops the N Mydemos' server, waits until every endpoint is not
// ready, serves again and waits until every endpoint is ready.
func runOutage(ctx context.Context, e *env, res *Results) error {
	r := &OutageResult{PeriodSeconds: int(e.cfg.ProbePeriod / time.Second), FailureThreshold: 3}
	res.Outage = r
	before, err := e.ctrl.scrape(ctx)
	if err != nil {
		return err
	}
	n := len(e.names)
	stopped := time.Now()
	if err := e.host.StopServing(servePort); err != nil {
		return err
	}
	err = waitFor(ctx, e.cfg.Timeout, 100*time.Millisecond, "every endpoint not ready", func() (bool, string, error) {
		p := e.tracker.progress(e.names)
		return p.endpointsReady == 0, p.String(), nil
	})
	if err != nil {
		return err
	}
	r.AllDownSeconds = time.Since(stopped).Seconds()
	e.cfg.Logf("outage: all %d endpoints not ready after %.1fs", n, r.AllDownSeconds)

	served := time.Now()
	if err := e.host.Serve(servePort); err != nil {
		return err
	}
	err = waitFor(ctx, e.cfg.Timeout, 100*time.Millisecond, "every endpoint ready again", func() (bool, string, error) {
		p := e.tracker.progress(e.names)
		return p.endpointsReady == n, p.String(), nil
	})
	if err != nil {
		return err
	}
	r.AllUpSeconds = time.Since(served).Seconds()
	after, err := e.ctrl.scrape(ctx)
	if err != nil {
		return err
	}
	r.Writes = int64(after.writes() - before.writes())
	e.cfg.Logf("outage: all %d endpoints ready again after %.1fs; %d writes", n, r.AllUpSeconds, r.Writes)
	return nil
}

func medianMax(v []float64) (median, maxV float64) {
	if len(v) == 0 {
		return 0, 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2], s[len(s)-1]
}
