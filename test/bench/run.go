package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/crddemo/crddemo/pkg/generated/clientset/versioned"
	"github.com/crddemo/crddemo/pkg/operator"
	"github.com/crddemo/crddemo/test/framework"
	"github.com/crddemo/crddemo/test/testhost"
)

// Namespaces and ports of a run. The controller watches benchNamespace
// only; the floor runs in floorNamespace, which it ignores.
const (
	benchNamespace = "bench"
	floorNamespace = "bench-floor"
	servePort      = 8080 // the N Mydemos
	churnPort      = 8081 // the churn Mydemo, so stopping it leaves the N alone
	churnName      = "churn"
	// createConcurrency is how many creates the bench keeps in flight.
	createConcurrency = 32
	// benchQPS is the bench's own client-side limit: high enough that the
	// API server, not the bench, limits creation.
	benchQPS   = 2000
	benchBurst = 4000
)

// Config is one bench run.
type Config struct {
	// N is the number of Mydemos.
	N int
	// Endpoints is the number of endpoints of each Mydemo (1: spec.ip;
	// more: spec.endpoints), each its own address of the test host.
	Endpoints int
	// Flags are the controller flags to pass; zero fields are left to the
	// controller's defaults.
	Flags controllerFlags
	// Steady is the length of the steady-state window.
	Steady time.Duration
	// Foreign is the number of foreign Services, and of foreign
	// EndpointSlices, created for the memory measurement.
	Foreign int
	// Fat is the number of Mydemos with 250 KiB of annotations created
	// after the foreign objects, for the memory measurement.
	Fat int
	// ProbePeriod is the probe period of the N Mydemos (timeout 1 s,
	// failure threshold 3 either way).
	ProbePeriod time.Duration
	// ChurnReps is how many down/up cycles the churn Mydemo goes through.
	ChurnReps int
	// Memory runs the memory phase (foreign objects, fat Mydemos).
	Memory bool
	// Outage also takes the N Mydemos' server down and up again, at the end.
	Outage bool
	// Timeout bounds each phase's wait (convergence, idle, outage, ...).
	Timeout time.Duration
	// Quiet is how long the controller is left alone before a memory
	// sample, and the idle window's length is IdleWindow.
	Quiet      time.Duration
	IdleWindow time.Duration
	// CPUProfile, if positive, starts the controller with --profiling and
	// records a CPU profile of that length from the first create of the
	// convergence phase, as convergence.cpu.pprof in OutDir.
	CPUProfile time.Duration
	// OutDir receives controller.log (results are written by the caller).
	OutDir string
	// ControllerBin is the controller binary.
	ControllerBin string
	// Smoke marks a small functional run.
	Smoke bool
	// Logf receives progress lines.
	Logf func(format string, args ...any)
}

// defaultConfig is a full run at n Mydemos.
func defaultConfig(n int) Config {
	return Config{
		N:           n,
		Endpoints:   1,
		Steady:      60 * time.Second,
		Foreign:     10000,
		Fat:         500,
		ProbePeriod: 10 * time.Second,
		ChurnReps:   5,
		Memory:      true,
		Outage:      true,
		Timeout:     10 * time.Minute,
		Quiet:       15 * time.Second,
		IdleWindow:  2 * time.Second,
	}
}

// smokeConfig is a small run that checks the harness and the goals that
// are deterministic at small N, in well under a minute. Its probe period is
// 2 s instead of 10 s so that the first probe of every Mydemo (at a random
// point of its first period) lands quickly.
func smokeConfig() Config {
	c := defaultConfig(20)
	c.Smoke = true
	c.Steady = 5 * time.Second
	c.Foreign = 200
	c.Fat = 5
	c.ProbePeriod = 2 * time.Second
	c.ChurnReps = 1
	c.Timeout = 90 * time.Second
	c.Quiet = 2 * time.Second
	c.IdleWindow = 2 * time.Second
	return c
}

func (c *Config) validate() error {
	switch {
	case c.N < 1:
		return fmt.Errorf("N must be at least 1, got %d", c.N)
	case c.Endpoints < 1 || c.Endpoints > 1000:
		return fmt.Errorf("endpoints per Mydemo must be 1 to 1000, got %d", c.Endpoints)
	case c.Steady <= 0 || c.Timeout <= 0 || c.IdleWindow <= 0 || c.Quiet < 0:
		return errors.New("steady, timeout and idle window must be positive")
	case c.ProbePeriod < time.Second || c.ProbePeriod%time.Second != 0:
		return fmt.Errorf("probe period must be whole seconds, at least 1 s, got %s", c.ProbePeriod)
	case c.CPUProfile < 0 || c.CPUProfile%time.Second != 0:
		return fmt.Errorf("the CPU profile's length must be whole seconds, got %s", c.CPUProfile)
	case c.Foreign < 0 || c.ChurnReps < 1:
		return errors.New("foreign must not be negative and churn repetitions must be at least 1")
	case c.OutDir == "":
		return errors.New("no output directory")
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	if c.ControllerBin == "" {
		bin, err := framework.ControllerBinary()
		if err != nil {
			return err
		}
		c.ControllerBin = bin
	}
	return nil
}

// env is what a run sets up, shared by the phases.
type env struct {
	cfg      Config
	cp       *framework.ControlPlane
	host     *testhost.Host
	kube     kubernetes.Interface // the bench's own clients, at benchQPS
	client   versioned.Interface
	flags    controllerFlags // effective controller flags
	names    []string        // the N Mydemos
	tracker  *tracker
	ctrl     *framework.Controller
	ctrlArgs []string
	logPath  string
}

// run sets up a control plane, a test host and the controller, measures
// every phase and tears everything down again. It returns what it measured
// even when a phase fails.
func run(ctx context.Context, cfg Config) (res *Results, err error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", cfg.OutDir, err)
	}
	begin := time.Now()
	logf := cfg.Logf
	e := &env{cfg: cfg, logPath: filepath.Join(cfg.OutDir, "controller.log")}
	res = &Results{Started: begin, N: cfg.N, Smoke: cfg.Smoke, FlagsGiven: cfg.Flags, Machine: readMachine()}
	res.Probe = probeSettings{PeriodSeconds: int(cfg.ProbePeriod / time.Second), TimeoutSeconds: 1, FailureThreshold: 3, SuccessThreshold: 1}

	// Everything started is stopped on the way out, also on a panic.
	var cleanups []func() error
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			if cerr := cleanups[i](); cerr != nil {
				err = errors.Join(err, cerr)
			}
		}
		res.DurationSeconds = time.Since(begin).Seconds()
		res.Machine.LoadAvgEnd = loadAvg()
	}()

	// Run a private copy, so a rebuild of the binary during the run cannot
	// change what is measured between the first start and the restart.
	bin, sum, removeCopy, err := copyBinary(cfg.ControllerBin)
	if err != nil {
		return res, err
	}
	cleanups = append(cleanups, removeCopy)
	res.ControllerSHA256 = sum
	cfg.ControllerBin = bin
	e.cfg.ControllerBin = bin

	defaults, err := controllerDefaults(ctx, cfg.ControllerBin)
	if err != nil {
		return res, err
	}
	res.ControllerDefaults = defaults
	e.flags = cfg.Flags.effective(defaults)
	res.FlagsEffective = e.flags
	res.ControllerVersion = commandOutput(ctx, cfg.ControllerBin, "--version")

	logf("starting the control plane")
	e.cp, err = framework.Start(ctx, framework.Options{ControllerManager: true, Logf: logf})
	if err != nil {
		return res, err
	}
	cleanups = append(cleanups, e.cp.Stop)

	benchCfg := rest.CopyConfig(e.cp.Config)
	benchCfg.QPS, benchCfg.Burst = benchQPS, benchBurst
	benchCfg.UserAgent = "crddemo-bench"
	// Built-in kinds as protobuf, as the controller's and the cluster's own
	// components' clients do.
	if e.kube, err = kubernetes.NewForConfig(operator.BuiltinKindsConfig(benchCfg)); err != nil {
		return res, fmt.Errorf("creating the bench client: %w", err)
	}
	if e.client, err = versioned.NewForConfig(benchCfg); err != nil {
		return res, fmt.Errorf("creating the bench client: %w", err)
	}
	if v, verr := e.kube.Discovery().ServerVersion(); verr == nil {
		res.KubernetesVersion = v.GitVersion
	}

	// N × Endpoints addresses for the Mydemos and one for the churn Mydemo.
	e.host, err = newHost(ctx, cfg.N*cfg.Endpoints+1)
	if err != nil {
		return res, err
	}
	cleanups = append(cleanups, e.host.Close)
	res.Subnet = e.host.Subnet.String()
	res.testHost = e.host.Name
	logf("test host %s serves %s", e.host.Name, e.host.Subnet)
	if err := e.host.Serve(servePort); err != nil {
		return res, err
	}

	if _, err := e.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: benchNamespace}}, metav1.CreateOptions{}); err != nil {
		return res, fmt.Errorf("creating namespace %s: %w", benchNamespace, err)
	}
	e.names = make([]string, cfg.N)
	for i := range e.names {
		e.names[i] = fmt.Sprintf("md-%05d", i)
	}

	// The floor runs first, while no controller is running.
	res.Machine.LoadAvgStart = loadAvg()
	logf("floor: %d objects, %d workers, %g QPS / %d burst", cfg.N, e.flags.Workers, e.flags.QPS, e.flags.Burst)
	if res.Floor, err = runFloorApart(ctx, e); err != nil {
		return res, fmt.Errorf("floor: %w", err)
	}

	if e.tracker, err = startTracker(ctx, e.kube, e.client, benchNamespace); err != nil {
		return res, err
	}
	cleanups = append(cleanups, func() error { e.tracker.stop(); return nil })

	e.ctrlArgs = append([]string{
		"--kubeconfig=" + e.cp.KubeconfigPath,
		"--namespace=" + benchNamespace,
		"--leader-elect=false",
		// The churn phase flips one endpoint five times in a minute or two
		// to time each flip: exactly what flap damping holds back from the
		// third flip on. Its cost is bounded by the probe tests instead.
		"--flap-damping=false",
	}, cfg.Flags.args()...)
	if cfg.CPUProfile > 0 {
		e.ctrlArgs = append(e.ctrlArgs, "--profiling")
	}
	logf("starting the controller: %s %s", cfg.ControllerBin, strings.Join(e.ctrlArgs, " "))
	if e.ctrl, err = startController(ctx, cfg.ControllerBin, e.ctrlArgs, e.logPath); err != nil {
		return res, err
	}
	res.controllerPIDs = append(res.controllerPIDs, e.ctrl.PID())
	// e.ctrl is replaced at the restart; the cleanup stops whichever runs.
	cleanups = append(cleanups, func() error { return stopController(e.ctrl) })

	phases := []struct {
		name string
		run  func(context.Context, *env, *Results) error
	}{
		{"convergence", runConvergence},
		{"steady state", runSteady},
		{"restart", runRestart},
		{"memory", runMemory},
		{"churn", runChurn},
		{"outage", runOutage},
	}
	for _, p := range phases {
		if (p.name == "outage" && !cfg.Outage) || (p.name == "memory" && !cfg.Memory) {
			continue
		}
		logf("--- %s", p.name)
		if err := p.run(ctx, e, res); err != nil {
			return res, fmt.Errorf("%s: %w", p.name, err)
		}
	}
	if res.Floor != nil && res.Convergence != nil && res.Floor.Seconds > 0 {
		c := res.Convergence
		res.Floor.Ratio = c.PublishedSeconds / res.Floor.Seconds
		res.Floor.ReadyRatio = max(c.ReadySeconds, c.EndpointsReadySeconds) / res.Floor.Seconds
	}
	last, err := scrape(ctx, e.ctrl)
	if err != nil {
		return res, fmt.Errorf("last scrape: %w", err)
	}
	res.ProbesLate = int64(last.probesLate)
	res.ProbeLateness = last.lateness

	took, err := e.ctrl.Stop(stopGrace)
	if err != nil {
		return res, fmt.Errorf("stopping the controller: %w", err)
	}
	logf("controller stopped in %s", took.Round(time.Millisecond))
	return res, nil
}

// newHost creates a test host whose subnet has at least addrs usable
// addresses: the test host's default /20 when that is enough, else the
// first free larger subnet inside 10.250.0.0/15.
func newHost(ctx context.Context, addrs int) (*testhost.Host, error) {
	const defaultUsable = 1<<(32-20) - 2
	if addrs <= defaultUsable {
		return testhost.New(ctx, testhost.Options{})
	}
	prefixLen := 32 - bits.Len(uint(addrs+1)) // 2^(32-prefixLen) >= addrs+2
	pool := netip.MustParsePrefix("10.250.0.0/15")
	if prefixLen < pool.Bits() {
		return nil, fmt.Errorf("%d addresses do not fit in %s", addrs, pool)
	}
	var errs []error
	step := uint32(1) << (32 - prefixLen)
	base := pool.Addr().As4()
	start := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	for i := range uint32(1) << (prefixLen - pool.Bits()) {
		a := start + i*step
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}), prefixLen)
		h, err := testhost.New(ctx, testhost.Options{Subnet: p})
		if err == nil {
			return h, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("no free /%d for %d addresses: %w", prefixLen, addrs, errors.Join(errs...))
}

// copyBinary copies bin into a fresh temporary directory and returns the
// copy's path, the first 12 hex digits of its SHA-256 and a function that
// removes the copy.
func copyBinary(bin string) (string, string, func() error, error) {
	dir, err := os.MkdirTemp("", "crddemo-bench-")
	if err != nil {
		return "", "", nil, fmt.Errorf("copying the controller binary: %w", err)
	}
	remove := func() error { return os.RemoveAll(dir) }
	fail := func(err error) (string, string, func() error, error) {
		return "", "", nil, errors.Join(fmt.Errorf("copying the controller binary: %w", err), remove())
	}
	src, err := os.Open(bin)
	if err != nil {
		return fail(err)
	}
	defer src.Close()
	dst := filepath.Join(dir, filepath.Base(bin))
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		return fail(err)
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(out, h), src)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fail(err)
	}
	return dst, hex.EncodeToString(h.Sum(nil))[:12], remove, nil
}

// commandOutput runs a short command and returns its trimmed output, or
// the error text.
func commandOutput(ctx context.Context, name string, args ...string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return strings.TrimSpace(string(out))
}
