package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crddemo/crddemo/test/testhost"
)

// TestSmoke runs the bench end to end at small N, through the same run
// function as the command, and checks the goals that do not depend on the
// machine's speed. It needs root (network namespaces) and the control
// plane and controller binaries (`make controlplane build`).
func TestSmoke(t *testing.T) {
	// One endpoint per Mydemo (spec.ip) and three (spec.endpoints). Each
	// run has its own control plane, test host and controller process,
	// and the goals checked here do not depend on the machine's speed, so
	// the two run side by side: most of a run is waiting (probe periods,
	// the steady state, quiet windows).
	for _, endpoints := range []int{1, 3} {
		t.Run(fmt.Sprintf("endpoints=%d", endpoints), func(t *testing.T) {
			t.Parallel()
			smoke(t, endpoints)
		})
	}
}

func smoke(t *testing.T, endpoints int) {
	cfg := smokeConfig()
	cfg.Endpoints = endpoints
	if endpoints > 1 {
		// What several endpoints change is convergence, the steady state,
		// the restart and a flip; memory and the outage are checked once.
		cfg.Memory, cfg.Outage = false, false
	}
	cfg.OutDir = t.TempDir()
	cfg.Logf = t.Logf
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	begin := time.Now()
	res, err := run(ctx, cfg)
	if res != nil {
		var b strings.Builder
		res.printTable(&b)
		t.Logf("results after %s:\n%s", time.Since(begin).Round(time.Millisecond), b.String())
	}
	if err != nil {
		t.Fatal(err)
	}

	if c := res.Convergence; c == nil || !c.Verified {
		t.Errorf("not every Mydemo converged: %+v", c)
	}
	if f := res.Floor; f == nil || f.Requests != 3*cfg.N {
		t.Errorf("floor did not send its %d writes: %+v", 3*cfg.N, f)
	}
	if s := res.Steady; s == nil {
		t.Error("no steady-state result")
	} else {
		if s.Writes != 0 {
			t.Errorf("%d writes at steady state (requests %v), want 0", s.Writes, s.Requests)
		}
		if s.StillReady != cfg.N || s.EndpointsLostReady != 0 {
			t.Errorf("%d of %d Mydemos ready at the end of the steady state, %d endpoints lost ready", s.StillReady, cfg.N, s.EndpointsLostReady)
		}
	}
	if r := res.Restart; r == nil {
		t.Error("no restart result")
	} else {
		if !r.Idle {
			t.Error("the restarted controller did not become idle")
		}
		if r.Writes != 0 {
			t.Errorf("%d writes after the restart (requests %v, %d access reviews, server-side %v), want 0",
				r.Writes, r.Requests, r.AccessReviews, r.ServerWrites)
		}
		if r.EndpointsLostReady != 0 {
			t.Errorf("%d endpoints went not ready after the restart although every program kept answering", r.EndpointsLostReady)
		}
		if r.AccessReviews == 0 {
			t.Error("no access reviews counted at the restart: the write count cannot have subtracted them")
		}
	}
	if m := res.Memory; cfg.Memory && (m == nil || m.RSSBeforeBytes == 0 || m.RSSAfterBytes == 0) {
		t.Errorf("no memory samples: %+v", m)
	}
	if c := res.Churn; c == nil || len(c.DownSeconds) != cfg.ChurnReps || len(c.UpSeconds) != cfg.ChurnReps {
		t.Errorf("churn flips not observed: %+v", c)
	} else if c.OthersReady != cfg.N {
		t.Errorf("%d of %d other endpoints stayed ready during churn", c.OthersReady, cfg.N)
	} else if c.WritesPerFlip["endpointslices PUT"] != 1 || c.WritesPerFlip["mydemos/status PUT"] != 1 {
		t.Errorf("writes per flip %v, want one EndpointSlice update and one status update", c.WritesPerFlip)
	}
	if o := res.Outage; cfg.Outage && o == nil {
		t.Error("no outage result")
	} else if cfg.Outage {
		// At most one Event per sync that saw a transition: one per
		// Mydemo with one endpoint. (With several, their probes are spread
		// over the period and each endpoint's flip may get its own.)
		limit := int64(cfg.N * cfg.Endpoints)
		if o.Down.Events < 1 || o.Down.Events > limit || o.Up.Events < 1 || o.Up.Events > limit {
			t.Errorf("outage of %d Mydemos × %d endpoints: %d Events down, %d up; want 1 to %d each", cfg.N, cfg.Endpoints, o.Down.Events, o.Up.Events, limit)
		}
		if o.EventsDropped != 0 {
			t.Errorf("%d Events dropped in the outage", o.EventsDropped)
		}
	}
	if m := res.Memory; m != nil && m.FatMydemos > 0 && m.RSSFatBytes == 0 {
		t.Errorf("no memory sample with fat Mydemos: %+v", m)
	}
	checkPictures(t, res, cfg)

	// Nothing may be left behind: no controller, no test host.
	for _, pid := range res.controllerPIDs {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("controller process %d is still there (kill -0: %v)", pid, err)
		}
	}
	if res.testHost != "" {
		// The namespace takes its veth pair, and so the route to the
		// subnet, with it (testhost's TestCloseRemovesEverything).
		if _, err := os.Stat(testhost.NamespacePath(res.testHost)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("test host %s (%s) left behind: stat of its network namespace: %v", res.testHost, res.Subnet, err)
		}
	}
}

// checkPictures checks that the series behind the pictures were recorded
// (every count reaches N; the outage's falls to 0 and comes back) and that
// writeFiles draws them as SVG beside results.json.
func checkPictures(t *testing.T, res *Results, cfg Config) {
	t.Helper()
	n := float64(cfg.N)
	last := func(s []Point) float64 {
		if len(s) == 0 {
			return -1
		}
		return s[len(s)-1][1]
	}
	lowest := func(s []Point) float64 {
		low := n
		for _, p := range s {
			low = min(low, p[1])
		}
		return low
	}
	want := []string{"convergence.svg", "lateness.svg"}
	if c := res.Convergence; c != nil && last(c.ReadySeries) != n {
		t.Errorf("convergence: Ready series %v does not end at %d", c.ReadySeries, cfg.N)
	}
	if f := res.Floor; f != nil && last(f.ReadySeries) != n {
		t.Errorf("floor: Ready series %v does not end at %d", f.ReadySeries, cfg.N)
	}
	if o := res.Outage; o != nil {
		want = append(want, "outage.svg")
		for name, s := range map[string][]Point{"endpoints": o.EndpointsReadySeries, "Ready": o.ReadySeries} {
			if len(s) == 0 || s[0][1] != n || lowest(s) != 0 || last(s) != n {
				t.Errorf("outage: %s series %v does not go from %d to 0 and back", name, s, cfg.N)
			}
		}
	}
	if h := res.ProbeLateness; h == nil || h.Count == 0 {
		t.Errorf("no probe lateness recorded: %+v", h)
	}
	if err := res.writeFiles(cfg.OutDir); err != nil {
		t.Fatal(err)
	}
	for _, f := range want {
		if doc := readSVG(t, filepath.Join(cfg.OutDir, f)); len(doc.paths) == 0 {
			t.Errorf("%s has no lines", f)
		}
	}
}
