package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
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

// controllerProc is one run of the controller binary.
type controllerProc struct {
	cmd        *exec.Cmd
	args       []string
	started    time.Time
	metricsURL string
	readyURL   string
	done       chan struct{} // closed once the process has been reaped
	waitErr    error         // valid after done is closed
}

// startController starts bin with args plus fresh loopback addresses for
// metrics and health, its output appended to logPath, and waits until it
// answers /readyz (its caches are filled).
//
// The child is in its own process group and gets SIGKILL when the thread
// that started it dies. That thread is locked to a goroutine that lives as
// long as the child: a Go thread can otherwise be terminated by the runtime
// (after a goroutine exits while locked to it, as the test hosts' namespace
// threads may), which would kill the controller in the middle of a run.
func startController(ctx context.Context, bin string, args []string, logPath string) (*controllerProc, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	metricsAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	healthAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))
	args = append(append([]string{}, args...),
		"--metrics-bind-address="+metricsAddr,
		"--health-probe-bind-address="+healthAddr)

	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening the controller log: %w", err)
	}
	defer logFile.Close() // the child has its own descriptor
	fmt.Fprintf(logFile, "=== %s: starting %s %s\n", time.Now().Format(time.RFC3339Nano), bin, strings.Join(args, " "))

	p := &controllerProc{
		args:       args,
		metricsURL: "http://" + metricsAddr + "/metrics",
		readyURL:   "http://" + healthAddr + "/readyz",
		done:       make(chan struct{}),
	}
	startErr := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = logFile, logFile
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			startErr <- fmt.Errorf("starting %s: %w", bin, err)
			return
		}
		p.cmd = cmd
		p.started = time.Now()
		startErr <- nil
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	if err := <-startErr; err != nil {
		return nil, err
	}
	if err := p.waitReady(ctx); err != nil {
		return nil, errors.Join(err, p.stop())
	}
	return p, nil
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("picking a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func (p *controllerProc) pid() int { return p.cmd.Process.Pid }

func (p *controllerProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitReady polls /readyz until it answers 200.
func (p *controllerProc) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if p.exited() {
			return fmt.Errorf("the controller exited before it was ready: %v (see the controller log)", p.waitErr)
		}
		if p.ready(ctx) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the controller was not ready within %s: %w", readyTimeout, ctx.Err())
		case <-tick.C:
		}
	}
}

func (p *controllerProc) ready(ctx context.Context) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.readyURL, nil)
	if err != nil {
		return false
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// scrape reads the controller's metrics.
func (p *controllerProc) scrape(ctx context.Context) (controllerSnapshot, error) {
	m, err := scrapeURL(ctx, p.metricsURL)
	if err != nil {
		return controllerSnapshot{}, err
	}
	return snapshotController(m), nil
}

// cpuProfile fetches a CPU profile of the controller over d (it must run
// with --profiling) and writes it to path, for `go tool pprof`.
func (p *controllerProc) cpuProfile(ctx context.Context, d time.Duration, path string) error {
	url := strings.TrimSuffix(p.metricsURL, "/metrics") + "/debug/pprof/profile?seconds=" + strconv.Itoa(int(d/time.Second))
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("fetching a CPU profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetching a CPU profile: %s from %s", resp.Status, url)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("fetching a CPU profile: %w", err)
	}
	return os.WriteFile(path, body, 0o644)
}

// stop sends SIGTERM, waits up to stopGrace for a clean exit, then kills
// the process group. It returns how long the clean part took and an error
// if the controller did not exit cleanly. Safe to call more than once.
func (p *controllerProc) stopTimed() (time.Duration, error) {
	if p == nil || p.cmd == nil {
		return 0, nil
	}
	begin := time.Now()
	if !p.exited() {
		if err := signalGroup(p.pid(), syscall.SIGTERM); err != nil {
			return 0, err
		}
		select {
		case <-p.done:
		case <-time.After(stopGrace):
		}
	}
	took := time.Since(begin)
	clean := p.exited()
	// Kill whatever is left of the group, even after a clean exit.
	if err := signalGroup(p.pid(), syscall.SIGKILL); err != nil {
		return took, err
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		return took, fmt.Errorf("the controller (pid %d) did not exit after SIGKILL", p.pid())
	}
	if !clean {
		return took, fmt.Errorf("the controller did not exit within %s of SIGTERM and was killed", stopGrace)
	}
	return took, nil
}

func (p *controllerProc) stop() error {
	_, err := p.stopTimed()
	return err
}

// signalGroup signals the process group led by pid; a group that is gone
// is not an error.
func signalGroup(pid int, sig syscall.Signal) error {
	err := syscall.Kill(-pid, sig)
	if err == nil || errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return fmt.Errorf("sending %v to process group %d: %w", sig, pid, err)
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
