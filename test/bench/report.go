package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Results is everything one run measured. A phase that did not run (or
// failed before it finished) is nil.
type Results struct {
	Started            time.Time       `json:"started"`
	DurationSeconds    float64         `json:"duration_seconds"`
	Machine            machineInfo     `json:"machine"`
	N                  int             `json:"n"`
	Smoke              bool            `json:"smoke"`
	Subnet             string          `json:"subnet"`
	Probe              probeSettings   `json:"probe"`
	KubernetesVersion  string          `json:"kubernetes_version"`
	ControllerVersion  string          `json:"controller_version"`
	ControllerSHA256   string          `json:"controller_sha256"`
	ControllerDefaults controllerFlags `json:"controller_defaults"`
	FlagsGiven         controllerFlags `json:"flags_given"`
	FlagsEffective     controllerFlags `json:"flags_effective"`

	Floor       *FloorResult       `json:"floor,omitempty"`
	Convergence *ConvergenceResult `json:"convergence,omitempty"`
	Steady      *SteadyResult      `json:"steady,omitempty"`
	Restart     *RestartResult     `json:"restart,omitempty"`
	Memory      *MemoryResult      `json:"memory,omitempty"`
	Churn       *ChurnResult       `json:"churn,omitempty"`
	Outage      *OutageResult      `json:"outage,omitempty"`
	// ProbesLate is crddemo_probes_late_total at the end: probes that
	// started more than 1 s late over the whole run (the last controller
	// process only).
	ProbesLate int64 `json:"probes_late"`
	// ProbeLateness is how late the probes started over the same span,
	// for the lateness plot.
	ProbeLateness *LatenessHistogram `json:"probe_lateness,omitempty"`

	Error string `json:"error,omitempty"`

	// controllerPIDs are the processes run started, for the smoke test's
	// check that none is left.
	controllerPIDs []int
	// testHost is the network namespace of the run's test host, for the
	// smoke test's check that it was removed. (Its subnet is no proof:
	// once freed, a test host of another test binary may take it.)
	testHost string
}

// probeSettings are those of the N Mydemos.
type probeSettings struct {
	PeriodSeconds    int `json:"period_seconds"`
	TimeoutSeconds   int `json:"timeout_seconds"`
	FailureThreshold int `json:"failure_threshold"`
	SuccessThreshold int `json:"success_threshold"`
}

// The closest peer, measured earlier on the same kind of control plane:
// one address, TCP probe every 10 s, threshold 3, N=2000.
const (
	peerReady    = "42 s (all endpoints ready)"
	peerWrites   = "~20,800"
	peerRestart  = "never idle"
	peerRSS      = "68 MB"
	peerRSSAfter = "128 MB (+88%)"
	peerOutage   = "877 of 2000 not flipped after 380 s"
)

// row is one line of the summary table.
type row struct{ metric, ours, floor, peer, goal string }

func (r *Results) rows() []row {
	var rows []row
	add := func(metric, ours, floor, peer, goal string) {
		rows = append(rows, row{metric, ours, floor, peer, goal})
	}
	n := r.N
	if c := r.Convergence; c != nil {
		add(fmt.Sprintf("Create %d Mydemos (bench client; not controller cost)", n), secs(c.CreateSeconds), "", "", "")
		floor := ""
		if f := r.Floor; f != nil {
			floor = fmt.Sprintf("%s (controller/floor %.2f×)", secs(f.Seconds), f.Ratio)
		}
		add("All Published + Service + EndpointSlice (from first create)", secs(c.PublishedSeconds), floor, "", "")
		ready := ""
		if f := r.Floor; f != nil {
			ready = fmt.Sprintf("controller/floor %.2f× (Ready and endpoints)", f.ReadyRatio)
		}
		add("All Ready=True (from first create)", secs(c.ReadySeconds), ready, "", "≤ 1.2× the floor")
		add("All endpoints ready=true (from first create)", secs(c.EndpointsReadySeconds), "", peerReady, "")
	}
	if s := r.Steady; s != nil {
		add(fmt.Sprintf("Writes at rest per minute (%.0f s window)", s.Seconds), fmt.Sprintf("%.0f (%d)", s.WritesPerMinute, s.Writes), "", peerWrites, "0")
		add("Requests at rest per minute, all methods", fmt.Sprintf("%.0f (%d)", s.RequestsPerMinute, s.RequestsTotal), "", "", "")
	}
	if rs := r.Restart; rs != nil {
		idle := fmt.Sprintf("%s after start (last sync; confirmed at %s, after the first probe round)", secs(rs.IdleSeconds), secs(rs.ConfirmedSeconds))
		if !rs.Idle {
			idle = "not idle within the timeout"
		}
		add("Restart: idle", idle, "", peerRestart, "idle")
		add("Restart: writes until idle", fmt.Sprintf("%d (+%d access reviews, not writes)", rs.Writes, rs.AccessReviews), "", "", "0")
		add("Restart: endpoints that went not ready (all programs up)", fmt.Sprint(rs.EndpointsLostReady), "", "", "0")
	}
	if m := r.Memory; m != nil {
		add("RSS at N", fmt.Sprintf("%.1f MiB", mib(m.RSSBeforeBytes)), "", peerRSS, "")
		add(fmt.Sprintf("RSS with %d foreign Services + %d foreign EndpointSlices", m.ForeignServices, m.ForeignEndpointSlices),
			fmt.Sprintf("%.1f MiB (%+.1f%%)", mib(m.RSSAfterBytes), m.DeltaPercent), "", peerRSSAfter, "within 5%")
		if m.FatMydemos > 0 {
			add(fmt.Sprintf("RSS after %d more Mydemos with %d KiB of annotations each", m.FatMydemos, m.FatAnnotationBytes>>10),
				fmt.Sprintf("%.1f MiB", mib(m.RSSFatBytes)), "", "", "")
		}
	}
	if c := r.Churn; c != nil {
		cfg := fmt.Sprintf("period %d s, threshold %d", c.PeriodSeconds, c.FailureThreshold)
		add("Churn: server stopped → endpoint not ready", fmt.Sprintf("%s median, %s max (%s, %d runs)", secs(c.DownMedian), secs(c.DownMax), cfg, len(c.DownSeconds)), "", "", "")
		add("Churn: server back → endpoint ready", fmt.Sprintf("%s median, %s max", secs(c.UpMedian), secs(c.UpMax)), "", "", "")
		add("Churn: API server writes per flip", formatPerFlip(c.WritesPerFlip), "", "", "1 slice update + 1 status update")
	}
	if o := r.Outage; o != nil {
		cfg := fmt.Sprintf("period %d s, threshold %d", o.PeriodSeconds, o.FailureThreshold)
		add(fmt.Sprintf("Outage: all %d endpoints not ready", n), fmt.Sprintf("%s (%s)", secs(o.AllDownSeconds), cfg), "", peerOutage, "")
		add("Outage: then every status Ready=False, every Event written", fmt.Sprintf("%s, %s", secs(o.Down.StatusSeconds), secs(o.Down.EventsSeconds)), "", "", "")
		add("Outage: Events at the API server for the down transition", fmt.Sprintf("%d (%d dropped by the controller in the outage)", o.Down.Events, o.EventsDropped), "", "", "≤ 1 per single-endpoint Mydemo, 0 dropped")
		add(fmt.Sprintf("Outage: all %d endpoints ready again", n), secs(o.AllUpSeconds), "", "", "")
		add("Outage: then every status Ready=True, every Event written", fmt.Sprintf("%s, %s (%d Events)", secs(o.Up.StatusSeconds), secs(o.Up.EventsSeconds), o.Up.Events), "", "", "")
	}
	add("Probes more than 1 s late (restarted controller, to the end)", fmt.Sprint(r.ProbesLate), "", "", "0")
	return rows
}

func secs(s float64) string {
	if s < 10 {
		return fmt.Sprintf("%.2f s", s)
	}
	return fmt.Sprintf("%.1f s", s)
}

// header is the run's description, one "key: value" per line.
func (r *Results) header() []string {
	m := r.Machine
	lines := []string{
		fmt.Sprintf("machine: %d CPUs (%s), %.1f GiB memory, kernel %s, %s", m.CPUs, m.CPUModel, float64(m.MemTotalBytes)/(1<<30), m.Kernel, m.GoVersion),
		fmt.Sprintf("load average (1/5/15 min): %s at start, %s at end", m.LoadAvgStart, m.LoadAvgEnd),
		fmt.Sprintf("control plane: %s; controller %s (binary sha256 %s…)", r.KubernetesVersion, r.ControllerVersion, r.ControllerSHA256),
		fmt.Sprintf("N: %d Mydemos on %s, TCP probe every %d s, timeout %d s, failure threshold %d", r.N, r.Subnet, r.Probe.PeriodSeconds, r.Probe.TimeoutSeconds, r.Probe.FailureThreshold),
		fmt.Sprintf("controller flags: --workers=%d --kube-api-qps=%g --kube-api-burst=%d --probe-concurrency=%d (given: %s)",
			r.FlagsEffective.Workers, r.FlagsEffective.QPS, r.FlagsEffective.Burst, r.FlagsEffective.ProbeConcurrency, orNone(strings.Join(r.FlagsGiven.args(), " "))),
		fmt.Sprintf("run: %s, %.0f s", r.Started.Format(time.RFC3339), r.DurationSeconds),
	}
	if r.Smoke {
		lines = append(lines, "mode: smoke (small N, short windows: figures are not performance numbers)")
	}
	if r.Error != "" {
		lines = append(lines, "error: "+r.Error)
	}
	return lines
}

func orNone(s string) string {
	if s == "" {
		return "none, all defaults"
	}
	return s
}

// printTable writes the header and the summary table as aligned text.
func (r *Results) printTable(w io.Writer) {
	for _, l := range r.header() {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "METRIC\tCRDDEMO\tFLOOR\tPEER\tGOAL")
	for _, row := range r.rows() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", row.metric, row.ours, dash(row.floor), dash(row.peer), dash(row.goal))
	}
	tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// markdown renders results.md.
func (r *Results) markdown() string {
	var b strings.Builder
	b.WriteString("# crddemo benchmark results\n\n")
	for _, l := range r.header() {
		fmt.Fprintf(&b, "- %s\n", l)
	}
	b.WriteString("\n| Metric | crddemo | Floor | Peer | Goal |\n|---|---|---|---|---|\n")
	for _, row := range r.rows() {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", row.metric, row.ours, dash(row.floor), dash(row.peer), dash(row.goal))
	}
	b.WriteString("\n## Details\n\n")
	if c := r.Convergence; c != nil {
		fmt.Fprintf(&b, "- Convergence: controller requests %s, %d syncs (%s), %.1f s waited in client-side rate limiters.\n",
			formatCounts(c.Requests), c.Syncs, formatCounts(c.SyncsByResult), c.ThrottledSeconds)
	}
	if f := r.Floor; f != nil {
		fmt.Fprintf(&b, "- Floor: %d Mydemo creates (bench client, done after %s) and behind them %d writes (Service create, EndpointSlice create, status update per object) in %s = %.0f writes/s, %d workers, QPS %g, burst %d, namespace %s, on a control plane of its own with kube-controller-manager.\n",
			r.N, secs(f.CreateSeconds), f.Requests, secs(f.Seconds), f.RequestsPerSecond, f.Workers, f.QPS, f.Burst, f.Namespace)
	}
	if s := r.Steady; s != nil {
		fmt.Fprintf(&b, "- Steady state (%.1f s, after %.1f s waiting for quiet): requests %s; server-side writes %s; %d syncs, %d queue adds, %d probes; %d of %d ready at the end, %d endpoints lost ready meanwhile.\n",
			s.Seconds, s.QuietWaitSeconds, formatCounts(s.Requests), formatCounts(s.ServerWrites), s.Syncs, s.QueueAdds, s.Probes, s.StillReady, r.N, s.EndpointsLostReady)
	}
	if rs := r.Restart; rs != nil {
		fmt.Fprintf(&b, "- Restart: shutdown after SIGTERM %s, ready %s after start, idle=%v at %s (quiet window %s); requests %s; access reviews %d; server-side writes %s; %d syncs, %d queue adds, %d probes.\n",
			secs(rs.ShutdownSeconds), secs(rs.ReadySeconds), rs.Idle, secs(rs.IdleSeconds), secs(rs.IdleWindowSeconds),
			formatCounts(rs.Requests), rs.AccessReviews, formatCounts(rs.ServerWrites), rs.Syncs, rs.QueueAdds, rs.Probes)
	}
	if m := r.Memory; m != nil {
		fmt.Fprintf(&b, "- Memory: foreign objects in namespace %s, Services %s, created in %s; samples after %s quiet; Go heap in use %.1f → %.1f MiB; controller requests meanwhile %s.\n",
			m.ForeignNamespace, m.ServiceKind, secs(m.CreateSeconds), secs(m.QuietSeconds), mib(m.HeapBeforeBytes), mib(m.HeapAfterBytes), formatCounts(m.ControllerRequests))
	}
	if c := r.Churn; c != nil {
		fmt.Fprintf(&b, "- Churn: down %v s, up %v s; %d of %d other endpoints still ready.\n", round2(c.DownSeconds), round2(c.UpSeconds), c.OthersReady, r.N)
	}
	if o := r.Outage; o != nil {
		fmt.Fprintf(&b, "- Outage: %d controller writes for the down and up transitions of %d Mydemos; server-side writes down %s, up %s.\n", o.Writes, r.N, formatCounts(o.Down.ServerWrites), formatCounts(o.Up.ServerWrites))
	}
	if figs := r.figures(); len(figs) > 0 {
		b.WriteString("\n## Pictures\n\n")
		for _, f := range figs {
			fmt.Fprintf(&b, "![%s](%s)\n\n", f.title, f.file)
		}
	}
	b.WriteString("\nWrites are the controller's own `rest_client_requests_total` POST+PUT+PATCH+DELETE, minus the SelfSubjectAccessReview creates of its start-up permission check, which the API server's `apiserver_request_total` counts in the same window. Server-side writes (all clients) for services, endpointslices, mydemos and events are listed as a cross-check.\n")
	return b.String()
}

func formatCounts(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func round2(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(int64(x*100+0.5)) / 100
	}
	return out
}

// writeFiles writes results.md, results.json and the pictures into dir.
func (r *Results) writeFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding results: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing results.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "results.md"), []byte(r.markdown()), 0o644); err != nil {
		return fmt.Errorf("writing results.md: %w", err)
	}
	return r.writeFigures(dir)
}

// formatPerFlip renders writes per flip by resource, sorted.
func formatPerFlip(m map[string]float64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %.2f", k, m[k]))
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, ", ")
}
