package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/crddemo/crddemo/test/framework"
)

// How writes are counted
//
// The controller's own /metrics has rest_client_requests_total{code,host,
// method}: every request the process sent, by HTTP method, but without the
// path. POST, PUT, PATCH and DELETE are writes, with one exception: the
// start-up permission check creates SelfSubjectAccessReviews, which are
// POSTs that store nothing. They are counted at the API server instead:
// apiserver_request_total{resource="selfsubjectaccessreviews",verb="POST"}
// over the same window, during which nothing else creates access reviews
// (the bench does not, and the controller manager runs without a secure
// port, so it reviews nothing). So
//
//	writes = client POST+PUT+PATCH+DELETE − server-side access-review creates
//
// which is exact for the controller process. As a cross-check, the API
// server's write counts for the resources the controller writes (services,
// endpointslices, mydemos, mydemos/status, events) over the same window
// are reported too; in those windows the bench itself writes nothing, so
// they are the controller's writes unless another component wrote one of
// those resources.

// serverResources are the resources the controller writes.
var serverResources = []string{"services", "endpointslices", "mydemos", "mydemos/status", "events"}

// WriteCount is the write accounting of one window.
type WriteCount struct {
	// Requests are the controller's requests by HTTP method.
	Requests map[string]int64 `json:"requests"`
	// AccessReviews are SelfSubjectAccessReview creates counted by the API
	// server in the window (subtracted from the POSTs).
	AccessReviews int64 `json:"access_reviews"`
	// Writes = POST+PUT+PATCH+DELETE − AccessReviews.
	Writes int64 `json:"writes"`
	// ServerWrites are the API server's write counts in the window for the
	// resources the controller writes, as "resource VERB".
	ServerWrites map[string]int64 `json:"server_writes"`
}

func countWrites(before, after controllerSnapshot, srvBefore, srvAfter serverCounts) WriteCount {
	w := WriteCount{
		Requests:      diffMap(before.byMethod, after.byMethod),
		AccessReviews: int64(srvAfter.accessReviews - srvBefore.accessReviews),
		ServerWrites:  map[string]int64{},
	}
	w.Writes = int64(after.writes()-before.writes()) - w.AccessReviews
	for k, v := range diffMap(srvBefore.writesByResource, srvAfter.writesByResource) {
		res, _, _ := strings.Cut(k, " ")
		for _, r := range serverResources {
			if res == r {
				w.ServerWrites[k] = v
			}
		}
	}
	return w
}

// SteadyResult is what the controller sends while nothing changes.
type SteadyResult struct {
	// QuietWaitSeconds is how long the bench waited after convergence for
	// the controller to stop writing (Events are sent asynchronously).
	QuietWaitSeconds  float64 `json:"quiet_wait_seconds"`
	Seconds           float64 `json:"seconds"`
	WriteCount                // flattened
	WritesPerMinute   float64 `json:"writes_per_minute"`
	RequestsTotal     int64   `json:"requests_total"`
	RequestsPerMinute float64 `json:"requests_per_minute"`
	Syncs             int64   `json:"syncs"`
	QueueAdds         int64   `json:"queue_adds"`
	Probes            int64   `json:"probes"`
	// StillReady is how many of the N are Ready=True with a ready
	// endpoint at the end; EndpointsLostReady counts endpoints that went
	// from ready to not ready during the window.
	StillReady         int `json:"still_ready"`
	EndpointsLostReady int `json:"endpoints_lost_ready"`
}

func runSteady(ctx context.Context, e *env, res *Results) error {
	r := &SteadyResult{}
	res.Steady = r
	begin := time.Now()
	out, err := waitIdle(ctx, e.ctrl, idleWait{window: 2 * e.cfg.IdleWindow, timeout: e.cfg.Timeout})
	if err != nil {
		return err
	}
	if !out.idle {
		return fmt.Errorf("the controller did not become quiet within %s after convergence", e.cfg.Timeout)
	}
	r.QuietWaitSeconds = time.Since(begin).Seconds()

	before, srvBefore, err := e.scrapeBoth(ctx)
	if err != nil {
		return err
	}
	lostBefore := e.tracker.readyLosses()
	e.cfg.Logf("measuring the steady state for %s", e.cfg.Steady)
	if err := sleepCtx(ctx, e.cfg.Steady); err != nil {
		return err
	}
	after, srvAfter, err := e.scrapeBoth(ctx)
	if err != nil {
		return err
	}
	window := after.at.Sub(before.at)
	r.Seconds = window.Seconds()
	r.WriteCount = countWrites(before, after, srvBefore, srvAfter)
	r.WritesPerMinute = float64(r.Writes) / window.Minutes()
	r.RequestsTotal = sumValues(r.Requests)
	r.RequestsPerMinute = float64(r.RequestsTotal) / window.Minutes()
	r.Syncs = int64(after.syncs - before.syncs)
	r.QueueAdds = int64(after.adds - before.adds)
	r.Probes = int64(after.probes - before.probes)
	p := e.tracker.progress(e.names)
	r.StillReady = min(p.ready, p.endpointsReady)
	r.EndpointsLostReady = e.tracker.readyLosses() - lostBefore
	e.cfg.Logf("steady: %d writes, %d requests, %d syncs, %d probes in %s", r.Writes, r.RequestsTotal, r.Syncs, r.Probes, window.Round(time.Millisecond))
	return nil
}

// RestartResult is what a restarted controller does before it is idle.
type RestartResult struct {
	// ShutdownSeconds is how long the old process took to exit after
	// SIGTERM.
	ShutdownSeconds float64 `json:"shutdown_seconds"`
	// ReadySeconds is from the new process's start to its /readyz.
	ReadySeconds float64 `json:"ready_seconds"`
	// Idle reports whether it became idle within the timeout; IdleSeconds
	// is from the process start to its last activity (workqueue add, sync
	// or write) before a quiet window of IdleWindowSeconds with an empty
	// queue, every Mydemo synced and probed at least once.
	Idle              bool    `json:"idle"`
	IdleSeconds       float64 `json:"idle_seconds"`
	IdleWindowSeconds float64 `json:"idle_window_seconds"`
	// ConfirmedSeconds is when idleness was confirmed: every Mydemo probed
	// once (the first round takes up to one period) and the window over.
	ConfirmedSeconds float64 `json:"confirmed_seconds"`
	WriteCount
	Syncs     int64 `json:"syncs"`
	QueueAdds int64 `json:"queue_adds"`
	Probes    int64 `json:"probes"`
	// EndpointsLostReady counts endpoints that went from ready to not
	// ready between the stop and idle, although every program kept
	// answering.
	EndpointsLostReady int `json:"endpoints_lost_ready"`
}

func runRestart(ctx context.Context, e *env, res *Results) error {
	r := &RestartResult{IdleWindowSeconds: e.cfg.IdleWindow.Seconds()}
	res.Restart = r
	lostBefore := e.tracker.readyLosses()
	took, err := e.ctrl.Stop(stopGrace)
	r.ShutdownSeconds = took.Seconds()
	if err != nil {
		return err
	}
	e.cfg.Logf("controller exited %s after SIGTERM; starting it again", took.Round(time.Millisecond))

	srvBefore, err := e.scrapeServer(ctx)
	if err != nil {
		return err
	}
	if e.ctrl, err = startController(ctx, e.cfg.ControllerBin, e.ctrlArgs, e.logPath); err != nil {
		return err
	}
	res.controllerPIDs = append(res.controllerPIDs, e.ctrl.PID())
	r.ReadySeconds = time.Since(e.ctrl.Started()).Seconds()
	n := float64(len(e.names))
	out, err := waitIdle(ctx, e.ctrl, idleWait{minSyncs: n, minProbes: n, window: e.cfg.IdleWindow, timeout: e.cfg.Timeout})
	if err != nil {
		return err
	}
	r.Idle = out.idle
	r.IdleSeconds = out.lastActivity.Sub(e.ctrl.Started()).Seconds()
	r.ConfirmedSeconds = time.Since(e.ctrl.Started()).Seconds()
	after, srvAfter, err := e.scrapeBoth(ctx)
	if err != nil {
		return err
	}
	// The new process's counters started at zero.
	r.WriteCount = countWrites(controllerSnapshot{}, after, srvBefore, srvAfter)
	r.Syncs = int64(after.syncs)
	r.QueueAdds = int64(after.adds)
	r.Probes = int64(after.probes)
	r.EndpointsLostReady = e.tracker.readyLosses() - lostBefore
	e.cfg.Logf("restart: idle=%v after %.1fs; %d writes (%d access reviews not counted), %d syncs, %d endpoints lost ready",
		r.Idle, r.IdleSeconds, r.Writes, r.AccessReviews, r.Syncs, r.EndpointsLostReady)
	return nil
}

// idleWait says when the controller counts as idle: its queue is empty,
// it has synced and probed at least minSyncs and minProbes times, and no
// workqueue add, sync or write happened for window.
type idleWait struct {
	minSyncs, minProbes float64
	window, timeout     time.Duration
}

type idleOutcome struct {
	idle         bool
	lastActivity time.Time
}

// waitIdle scrapes the controller every 250 ms until it is idle or the
// timeout passes (then idle is false and the error nil).
func waitIdle(ctx context.Context, p *framework.Controller, w idleWait) (idleOutcome, error) {
	const interval = 250 * time.Millisecond
	deadline := time.Now().Add(w.timeout)
	var prev controllerSnapshot
	first := true
	out := idleOutcome{lastActivity: time.Now()}
	for {
		s, err := scrape(ctx, p)
		if err != nil {
			return out, err
		}
		if first || s.adds != prev.adds || s.syncs != prev.syncs || s.writes() != prev.writes() || s.depth > 0 {
			out.lastActivity = s.at
		}
		first = false
		prev = s
		if s.depth == 0 && s.syncs >= w.minSyncs && s.probes >= w.minProbes && time.Since(out.lastActivity) >= w.window {
			out.idle = true
			return out, nil
		}
		if time.Now().After(deadline) {
			return out, nil
		}
		if err := sleepCtx(ctx, interval); err != nil {
			return out, err
		}
	}
}

func (e *env) scrapeServer(ctx context.Context) (serverCounts, error) {
	m, err := scrapeAPIServer(ctx, e.kube)
	if err != nil {
		return serverCounts{}, err
	}
	return countServer(m), nil
}

func (e *env) scrapeBoth(ctx context.Context) (controllerSnapshot, serverCounts, error) {
	c, err := scrape(ctx, e.ctrl)
	if err != nil {
		return c, serverCounts{}, err
	}
	s, err := e.scrapeServer(ctx)
	return c, s, err
}

// sleepCtx waits for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
