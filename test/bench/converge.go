package main

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/controller"
	"github.com/crddemo/crddemo/test/framework"
)

// ConvergenceResult is the time from the first create request until the
// controller has published, and the probes have made ready, all N Mydemos.
type ConvergenceResult struct {
	// CreateSeconds is the bench's own time to create the N Mydemos (first
	// request sent to last response received); not the controller's cost.
	CreateSeconds float64 `json:"create_seconds"`
	// PublishedSeconds: every Mydemo has Published=True and its Service
	// and EndpointSlice exist.
	PublishedSeconds float64 `json:"published_seconds"`
	// ReadySeconds: every Mydemo has Ready=True.
	ReadySeconds float64 `json:"ready_seconds"`
	// EndpointsReadySeconds: every EndpointSlice endpoint is ready=true.
	EndpointsReadySeconds float64 `json:"endpoints_ready_seconds"`
	// Requests are the controller's requests by method, from its start
	// (after the start-up access reviews) until all were Ready.
	Requests map[string]int64 `json:"requests"`
	Writes   int64            `json:"writes"`
	Syncs    int64            `json:"syncs"`
	// SyncsByResult splits Syncs into success, retry and error.
	SyncsByResult map[string]int64 `json:"syncs_by_result"`
	// ThrottledSeconds is the total time the controller's requests waited
	// in its client-side rate limiters.
	ThrottledSeconds float64 `json:"throttled_seconds"`
	// Verified reports that one LIST of each kind at the end showed N
	// Mydemos, Services and EndpointSlices.
	Verified bool `json:"verified"`
	// ReadySeries is the number of Mydemos with Ready=True over time, in
	// seconds from the first create, for the convergence plot.
	ReadySeries []Point `json:"ready_series,omitempty"`
}

// addressSpec gives the i-th Mydemo its own addresses of the test host:
// spec.ip for one endpoint, spec.endpoints for more.
func (e *env) addressSpec(i int, spec *crddemov1.MydemoSpec) {
	k := e.cfg.Endpoints
	if k <= 1 {
		spec.IP = e.host.Addr(i + 1).String()
		return
	}
	for j := range k {
		spec.Endpoints = append(spec.Endpoints, crddemov1.Endpoint{IP: e.host.Addr(i*k + j + 1).String()})
	}
}

// specAddresses lists the literal addresses of a spec.
func specAddresses(spec crddemov1.MydemoSpec) []string {
	if spec.IP != "" {
		return []string{spec.IP}
	}
	out := make([]string, 0, len(spec.Endpoints))
	for _, ep := range spec.Endpoints {
		out = append(out, ep.IP)
	}
	return out
}

// probedSpec is the spec of the i-th Mydemo: its own addresses of the test
// host, the served port, a TCP probe.
func (e *env) probedSpec(i int) crddemov1.MydemoSpec {
	spec := crddemov1.MydemoSpec{
		Port: servePort,
		Probe: &crddemov1.Probe{
			Type:             crddemov1.ProbeTypeTCP,
			PeriodSeconds:    int32(e.cfg.ProbePeriod / time.Second),
			TimeoutSeconds:   1,
			FailureThreshold: 3,
			SuccessThreshold: 1,
		},
	}
	e.addressSpec(i, &spec)
	return spec
}

// checkProbeTarget refuses any address outside the run's own test host.
// Every probed Mydemo goes through it: the controller dials what it is
// given.
func (e *env) checkProbeTarget(spec crddemov1.MydemoSpec) error {
	if spec.Probe != nil && spec.Probe.Type == crddemov1.ProbeTypeNone {
		return nil
	}
	for _, ip := range specAddresses(spec) {
		if a, err := netip.ParseAddr(ip); err != nil || !e.host.Subnet.Contains(a) {
			return fmt.Errorf("refusing to create a probed Mydemo for %s, outside the test host's %s", ip, e.host.Subnet)
		}
	}
	return nil
}

func runConvergence(ctx context.Context, e *env, res *Results) error {
	before, err := scrape(ctx, e.ctrl)
	if err != nil {
		return err
	}
	for i := range e.names {
		if err := e.checkProbeTarget(e.probedSpec(i)); err != nil {
			return err
		}
	}

	r := &ConvergenceResult{}
	res.Convergence = r
	e.cfg.Logf("creating %d Mydemos", len(e.names))
	first := time.Now()
	profiled := make(chan error, 1)
	if d := e.cfg.CPUProfile; d > 0 {
		path := filepath.Join(e.cfg.OutDir, "convergence.cpu.pprof")
		go func() { profiled <- cpuProfile(ctx, e.ctrl, d, path) }()
	} else {
		profiled <- nil
	}
	err = forEach(ctx, len(e.names), createConcurrency, func(ctx context.Context, i int) error {
		_, err := e.createMydemo(ctx, benchNamespace, i, e.probedSpec(i))
		return err
	})
	if err != nil {
		return fmt.Errorf("creating Mydemos: %w", err)
	}
	r.CreateSeconds = time.Since(first).Seconds()
	e.cfg.Logf("created %d Mydemos in %.1fs", len(e.names), r.CreateSeconds)

	if err := e.waitAllReady(ctx, e.tracker, "every Mydemo published and ready"); err != nil {
		return err
	}
	published, _ := e.tracker.latest(e.names, convergedTime)
	ready, _ := e.tracker.latest(e.names, readyTime)
	endpoints, _ := e.tracker.latest(e.names, endpointReadyTime)
	r.PublishedSeconds = published.Sub(first).Seconds()
	r.ReadySeconds = ready.Sub(first).Seconds()
	r.EndpointsReadySeconds = endpoints.Sub(first).Seconds()
	r.ReadySeries = e.tracker.countSeries(e.names, readyFlips, first, ready)

	after, err := scrape(ctx, e.ctrl)
	if err != nil {
		return err
	}
	r.Requests = diffMap(before.byMethod, after.byMethod)
	r.Writes = int64(after.writes() - before.writes())
	r.Syncs = int64(after.syncs - before.syncs)
	r.SyncsByResult = diffMap(before.syncsByRes, after.syncsByRes)
	r.ThrottledSeconds = after.throttled - before.throttled
	if err := e.verifyPublished(ctx); err != nil {
		return err
	}
	r.Verified = true
	if err := <-profiled; err != nil {
		return err
	}
	e.cfg.Logf("published after %.1fs, Ready after %.1fs, endpoints ready after %.1fs; %d controller writes",
		r.PublishedSeconds, r.ReadySeconds, r.EndpointsReadySeconds, r.Writes)
	return nil
}

// verifyPublished checks with one LIST of each kind that the N Mydemos are
// Published and Ready and that their Services and EndpointSlices exist.
func (e *env) verifyPublished(ctx context.Context) error {
	want := map[string]bool{}
	for _, n := range e.names {
		want[n] = true
	}
	mds, err := e.client.CrddemoV1().Mydemos(benchNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing Mydemos: %w", err)
	}
	good := 0
	for _, md := range mds.Items {
		if want[md.Name] && isTrue(md, crddemov1.ConditionPublished) && isTrue(md, crddemov1.ConditionReady) {
			good++
		}
	}
	sel := metav1.ListOptions{LabelSelector: controller.ManagedSelector}
	svcs, err := e.kube.CoreV1().Services(benchNamespace).List(ctx, sel)
	if err != nil {
		return fmt.Errorf("listing Services: %w", err)
	}
	slices, err := e.kube.DiscoveryV1().EndpointSlices(benchNamespace).List(ctx, sel)
	if err != nil {
		return fmt.Errorf("listing EndpointSlices: %w", err)
	}
	svcCount, sliceCount := 0, 0
	for _, s := range svcs.Items {
		if want[s.Name] {
			svcCount++
		}
	}
	for _, s := range slices.Items {
		if want[s.Labels[controller.LabelMydemo]] {
			sliceCount++
		}
	}
	if good != len(want) || svcCount != len(want) || sliceCount != len(want) {
		return fmt.Errorf("LIST shows %d of %d Mydemos Published and Ready, %d Services, %d EndpointSlices", good, len(want), svcCount, sliceCount)
	}
	return nil
}

func isTrue(md crddemov1.Mydemo, cond string) bool {
	for _, c := range md.Status.Conditions {
		if c.Type == cond {
			return c.Status == metav1.ConditionTrue
		}
	}
	return false
}

// retriable reports whether a failed create may succeed if sent again.
func retriable(err error) bool {
	return apierrors.IsServerTimeout(err) || apierrors.IsTooManyRequests(err) ||
		apierrors.IsTimeout(err) || apierrors.IsServiceUnavailable(err)
}

// createMydemo creates the i-th Mydemo (named e.names[i]) in namespace,
// retrying what createWithRetry retries. The convergence phase and the
// floor create theirs through it, so both put the same load on the API
// server.
func (e *env) createMydemo(ctx context.Context, namespace string, i int, spec crddemov1.MydemoSpec) (*crddemov1.Mydemo, error) {
	return createWithRetry(ctx, func() (*crddemov1.Mydemo, error) {
		return e.client.CrddemoV1().Mydemos(namespace).Create(ctx, &crddemov1.Mydemo{
			ObjectMeta: metav1.ObjectMeta{Name: e.names[i]},
			Spec:       spec,
		}, metav1.CreateOptions{})
	})
}

// waitAllReady waits until t has seen every one of e.names published, Ready
// and with every endpoint ready.
func (e *env) waitAllReady(ctx context.Context, t *tracker, what string) error {
	n := len(e.names)
	return framework.Poll(ctx, e.cfg.Timeout, 200*time.Millisecond, what, func() (bool, string, error) {
		p := t.progress(e.names)
		return p.converged == n && p.ready == n && p.endpointsReady == n, p.String(), nil
	})
}
