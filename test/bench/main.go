// Command bench measures the Mydemo controller on a local control plane:
// convergence against a floor of plain writes, requests at rest, a restart,
// memory with foreign objects, and how fast endpoints follow their
// programs. It runs the real controller binary as a child process and
// points every probed Mydemo at a test host (a network namespace) that it
// creates itself, so no probe leaves the machine. It needs root.
//
//	go run ./test/bench -n 2000 -out _output/bench
//	go run ./test/bench -smoke
//
// The results go to stdout as a table and to results.md and results.json in
// -out, with pictures of convergence, the outage and the probe lateness
// beside them (convergence.svg, outage.svg, lateness.svg); the
// controller's log to controller.log there.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	os.Exit(mainCode())
}

func mainCode() int {
	defaultN := 2000
	if v := os.Getenv("BENCH_N"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: BENCH_N=%q is not a number\n", v)
			return 2
		}
		defaultN = n
	}
	full := defaultConfig(defaultN)
	var (
		n          = flag.Int("n", defaultN, "number of Mydemos (default $BENCH_N, else 2000)")
		out        = flag.String("out", "_output/bench", "directory for results.md, results.json, the pictures (*.svg) and controller.log")
		smoke      = flag.Bool("smoke", false, "small functional run: N=20, 5 s steady state, 200 foreign objects, 2 s probe period, a short outage")
		steady     = flag.Duration("steady", full.Steady, "length of the steady-state window")
		foreign    = flag.Int("foreign", full.Foreign, "foreign Services, and foreign EndpointSlices, for the memory measurement")
		timeout    = flag.Duration("timeout", full.Timeout, "bound of each phase's wait")
		churnReps  = flag.Int("churn-reps", full.ChurnReps, "down/up cycles of the churn Mydemo")
		outage     = flag.Bool("outage", full.Outage, "also take all N Mydemos' server down and up again at the end")
		workers    = flag.Int("workers", 0, "controller --workers (default: the controller's)")
		qps        = flag.Float64("qps", 0, "controller --kube-api-qps (default: the controller's)")
		burst      = flag.Int("burst", 0, "controller --kube-api-burst (default: the controller's)")
		probeConc  = flag.Int("probe-concurrency", 0, "controller --probe-concurrency (default: the controller's)")
		controller = flag.String("controller", "", "controller binary (default: $CRDDEMO_BIN_DIR/mydemo-controller, else bin/mydemo-controller)")
		quiet      = flag.Bool("q", false, "no progress lines on stderr")
		cpuProfile = flag.Duration("cpu-profile", 0, "record a CPU profile of the controller this long from the first create of the convergence phase, into -out/convergence.cpu.pprof (0: none)")
		endpoints  = flag.Int("endpoints", 1, "endpoints per Mydemo (1: spec.ip; more: spec.endpoints)")
		fat        = flag.Int("fat", full.Fat, "Mydemos with 250 KiB of annotations each, for the memory measurement")
		engine     = flag.Bool("engine", false, "only the probe engine, in this process, without a control plane: lateness at -engine-targets targets (10 % black-holed), CPU per 1,000 probes of each kind, TIME_WAIT")
		engTargets = flag.Int("engine-targets", 100000, "targets of the -engine scale run, every 10 s")
		engConc    = flag.Int("engine-concurrency", 4000, "probe concurrency of the -engine scale run")
		engMeasure = flag.Duration("engine-measure", 30*time.Second, "measurement window of the -engine scale run")
	)
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "bench: unexpected arguments %v\n", flag.Args())
		return 2
	}
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })

	cfg := full
	if *smoke {
		cfg = smokeConfig()
	}
	// Explicit flags override the mode's values.
	if set["n"] || !*smoke {
		cfg.N = *n
	}
	if set["steady"] {
		cfg.Steady = *steady
	}
	if set["foreign"] {
		cfg.Foreign = *foreign
	}
	if set["timeout"] {
		cfg.Timeout = *timeout
	}
	if set["churn-reps"] {
		cfg.ChurnReps = *churnReps
	}
	if set["fat"] {
		cfg.Fat = *fat
	}
	if set["outage"] {
		cfg.Outage = *outage
	}
	cfg.Endpoints = *endpoints
	cfg.Flags = controllerFlags{Workers: *workers, QPS: *qps, Burst: *burst, ProbeConcurrency: *probeConc}
	cfg.OutDir = *out
	cfg.CPUProfile = *cpuProfile
	cfg.ControllerBin = *controller
	if !*quiet {
		cfg.Logf = func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *engine {
		logf := cfg.Logf
		if logf == nil {
			logf = func(string, ...any) {}
		}
		return engineMain(ctx, *engTargets, *engConc, *engMeasure, logf)
	}
	res, err := run(ctx, cfg)
	code := 0
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		code = 1
	}
	if res == nil {
		return code
	}
	if err != nil {
		res.Error = err.Error()
	}
	fmt.Println()
	res.printTable(os.Stdout)
	if werr := res.writeFiles(cfg.OutDir); werr != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", werr)
		return 1
	}
	fmt.Printf("\nresults: %s/results.md, %s/results.json", cfg.OutDir, cfg.OutDir)
	for _, f := range res.figures() {
		fmt.Printf(", %s/%s", cfg.OutDir, f.file)
	}
	fmt.Println()
	return code
}
