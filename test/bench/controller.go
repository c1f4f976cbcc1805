package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/crddemo/crddemo/test/framework"
)

const (
	// stopGrace is how long the controller may take to shut down after
	// SIGTERM before it is killed.
	stopGrace = 60 * time.Second
	// readyTimeout bounds the wait for /readyz after a start.
	readyTimeout = 2 * time.Minute
)

// controllerFlags are the tuning flags the bench may pass. Zero means "not
// given": the controller uses its own default, which the bench reads from
// --help so the floor can use the same values.
type controllerFlags struct {
	Workers          int     `json:"workers"`
	QPS              float64 `json:"kube_api_qps"`
	Burst            int     `json:"kube_api_burst"`
	ProbeConcurrency int     `json:"probe_concurrency"`
}

// controllerDefaults runs `<bin> --help` and reads the defaults of the
// tuning flags from it, so the report and the floor never rely on a copy of
// them that could go stale.
func controllerDefaults(ctx context.Context, bin string) (controllerFlags, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--help").Output()
	if err != nil {
		return controllerFlags{}, fmt.Errorf("running %s --help: %w", bin, err)
	}
	re := regexp.MustCompile(`^\s+--([a-z-]+) \S+\s.*\(default ([^)]+)\)\s*$`)
	defaults := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			defaults[m[1]] = strings.Trim(m[2], `"`)
		}
	}
	var f controllerFlags
	var errs []error
	atoi := func(name string, dst *int) {
		v, err := strconv.Atoi(defaults[name])
		if err != nil {
			errs = append(errs, fmt.Errorf("default of --%s in %s --help: %q: %w", name, bin, defaults[name], err))
		}
		*dst = v
	}
	atoi("workers", &f.Workers)
	atoi("kube-api-burst", &f.Burst)
	atoi("probe-concurrency", &f.ProbeConcurrency)
	qps, err := strconv.ParseFloat(defaults["kube-api-qps"], 64)
	if err != nil {
		errs = append(errs, fmt.Errorf("default of --kube-api-qps in %s --help: %q: %w", bin, defaults["kube-api-qps"], err))
	}
	f.QPS = qps
	return f, errors.Join(errs...)
}

// effective fills the flags not given with defaults.
func (f controllerFlags) effective(defaults controllerFlags) controllerFlags {
	if f.Workers == 0 {
		f.Workers = defaults.Workers
	}
	if f.QPS == 0 {
		f.QPS = defaults.QPS
	}
	if f.Burst == 0 {
		f.Burst = defaults.Burst
	}
	if f.ProbeConcurrency == 0 {
		f.ProbeConcurrency = defaults.ProbeConcurrency
	}
	return f
}

// args renders only the flags that were given.
func (f controllerFlags) args() []string {
	var a []string
	if f.Workers != 0 {
		a = append(a, "--workers="+strconv.Itoa(f.Workers))
	}
	if f.QPS != 0 {
		a = append(a, "--kube-api-qps="+strconv.FormatFloat(f.QPS, 'f', -1, 64))
	}
	if f.Burst != 0 {
		a = append(a, "--kube-api-burst="+strconv.Itoa(f.Burst))
	}
	if f.ProbeConcurrency != 0 {
		a = append(a, "--probe-concurrency="+strconv.Itoa(f.ProbeConcurrency))
	}
	return a
}

// startController starts bin with args, its output appended to logPath,
// and waits until it answers /readyz (its caches are filled).
func startController(ctx context.Context, bin string, args []string, logPath string) (*framework.Controller, error) {
	c, err := framework.StartController("the controller", bin, args, logPath)
	if err != nil {
		return nil, err
	}
	if err := c.WaitHealthy(ctx, "/readyz", readyTimeout); err != nil {
		_, stopErr := c.Stop(stopGrace)
		return nil, errors.Join(err, stopErr)
	}
	return c, nil
}

// scrape reads the controller's metrics.
func scrape(ctx context.Context, c *framework.Controller) (controllerSnapshot, error) {
	m, err := c.Scrape(ctx)
	if err != nil {
		return controllerSnapshot{}, err
	}
	return snapshotController(m), nil
}

// cpuProfile fetches a CPU profile of the controller over d (it must run
// with --profiling) and writes it to path, for `go tool pprof`.
func cpuProfile(ctx context.Context, c *framework.Controller, d time.Duration, path string) error {
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	code, body, err := c.Fetch(ctx, "/debug/pprof/profile?seconds="+strconv.Itoa(int(d/time.Second)))
	if err != nil {
		return fmt.Errorf("fetching a CPU profile: %w", err)
	}
	if code != http.StatusOK {
		return fmt.Errorf("fetching a CPU profile: HTTP %d: %s", code, body)
	}
	return os.WriteFile(path, body, 0o644)
}

// stopController stops the controller, allowing it stopGrace for a clean
// exit.
func stopController(c *framework.Controller) error {
	_, err := c.Stop(stopGrace)
	return err
}

// rssBytes reads VmRSS of pid from /proc.
func rssBytes(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("reading the controller's memory: %w", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parsing VmRSS %q: %w", rest, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}
