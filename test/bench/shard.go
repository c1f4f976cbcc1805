package main

import (
	"context"
	"errors"
	"fmt"
	"os"
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
)

// Names of the shard metrics the sharded run reads.
const (
	metricShardMydemos = "crddemo_shard_mydemos"
	metricShardMembers = "crddemo_shard_members"
)

// Lease timings of the sharded run: the controller's defaults, so the
// take-over of a killed replica is measured against the bound users get.
const (
	shardLeaseDuration = 15 * time.Second
	shardRetryPeriod   = 2 * time.Second
)

// shardPhase is one change of membership and what it cost.
type shardPhase struct {
	Name string
	// Replicas is how many replicas run once the phase is over.
	Replicas int
	// SettledSeconds is the time from the change until every live
	// replica reports the same membership and their shares add up to N.
	SettledSeconds float64
	// Shares are the live replicas' crddemo_shard_mydemos once settled.
	Shares []int
	// Writes are the API server's write requests to Services,
	// EndpointSlices and Mydemos during the phase and three probe
	// periods after it settled (Leases and Events are not counted).
	Writes map[string]int64
	// ProbesPerReplica is each live replica's probes over the last two
	// probe periods of the phase.
	ProbesPerReplica []int64
}

// shardRun is a sharded bench run.
type shardRun struct {
	e        *env
	replicas []*framework.Controller
	args     []string
	started  int
	logf     func(string, ...any)
}

// shardMain runs the sharded scenario: N single-endpoint Mydemos, 3
// replicas with --sharding; one killed with SIGKILL (its share back
// within the lease duration plus a retry period), one started again,
// one more (3 → 4), two stopped gracefully (4 → 2). It prints a table.
func shardMain(ctx context.Context, cfg Config) int {
	phases, err := runSharded(ctx, cfg)
	fmt.Printf("\nsharded run, N=%d, probe period %s, lease %s / retry %s\n", cfg.N, cfg.ProbePeriod, shardLeaseDuration, shardRetryPeriod)
	fmt.Println("| phase | replicas | settled (s) | shares | probes per replica (2 periods) | writes (Services, slices, Mydemos) |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, p := range phases {
		fmt.Printf("| %s | %d | %.2f | %v | %v | %s |\n", p.Name, p.Replicas, p.SettledSeconds, p.Shares, p.ProbesPerReplica, orNone(formatCounts(p.Writes)))
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	}
	return 0
}

func runSharded(ctx context.Context, cfg Config) (phases []shardPhase, err error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", cfg.OutDir, err)
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	e := &env{cfg: cfg}
	var cleanups []func() error
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			if cerr := cleanups[i](); cerr != nil {
				err = errors.Join(err, cerr)
			}
		}
	}()
	logf("starting the control plane")
	if e.cp, err = framework.Start(ctx, framework.Options{ControllerManager: true, Logf: logf}); err != nil {
		return nil, err
	}
	cleanups = append(cleanups, e.cp.Stop)
	benchCfg := rest.CopyConfig(e.cp.Config)
	benchCfg.QPS, benchCfg.Burst = benchQPS, benchBurst
	if e.kube, err = kubernetes.NewForConfig(operator.BuiltinKindsConfig(benchCfg)); err != nil {
		return nil, fmt.Errorf("creating the bench client: %w", err)
	}
	if e.client, err = versioned.NewForConfig(benchCfg); err != nil {
		return nil, fmt.Errorf("creating the bench client: %w", err)
	}
	if e.host, err = newHost(ctx, cfg.N); err != nil {
		return nil, err
	}
	cleanups = append(cleanups, e.host.Close)
	if err := e.host.Serve(servePort); err != nil {
		return nil, err
	}
	if _, err := e.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: benchNamespace}}, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("creating namespace %s: %w", benchNamespace, err)
	}
	e.names = make([]string, cfg.N)
	for i := range e.names {
		e.names[i] = fmt.Sprintf("md-%05d", i)
	}
	if e.tracker, err = startTracker(ctx, e.kube, e.client, benchNamespace); err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() error { e.tracker.stop(); return nil })

	s := &shardRun{e: e, logf: logf, args: append([]string{
		"--kubeconfig=" + e.cp.KubeconfigPath,
		"--namespace=" + benchNamespace,
		"--sharding",
		"--leader-elect-resource-namespace=" + benchNamespace,
		"--leader-elect-lease-duration=" + shardLeaseDuration.String(),
		"--leader-elect-retry-period=" + shardRetryPeriod.String(),
	}, cfg.Flags.args()...)}
	cleanups = append(cleanups, func() error {
		var errs []error
		for _, r := range s.replicas {
			if r.Running() {
				errs = append(errs, stopController(r))
			}
		}
		return errors.Join(errs...)
	})

	// 3 replicas, then N Mydemos: each replica converges its share.
	begin := time.Now()
	for range 3 {
		if err := s.start(ctx); err != nil {
			return phases, err
		}
	}
	logf("creating %d Mydemos", cfg.N)
	if err := forEach(ctx, cfg.N, createConcurrency, func(ctx context.Context, i int) error {
		spec := e.probedSpec(i)
		if err := e.checkProbeTarget(spec); err != nil {
			return err
		}
		_, err := e.createMydemo(ctx, benchNamespace, i, spec)
		return err
	}); err != nil {
		return phases, err
	}
	if err := e.waitAllReady(ctx, e.tracker, "every Mydemo Ready with 3 replicas"); err != nil {
		return phases, err
	}
	before, err := scrapeAPIServer(ctx, e.kube)
	if err != nil {
		return phases, err
	}
	p, err := s.settle(ctx, "converge with 3", begin, before)
	phases = append(phases, p)
	if err != nil {
		return phases, err
	}

	steps := []struct {
		name   string
		change func() error
	}{
		{"kill -9 one of 3", func() error { return s.replicas[0].Kill() }},
		{"start one (2 -> 3)", func() error { return s.start(ctx) }},
		{"start one (3 -> 4)", func() error { return s.start(ctx) }},
		{"stop two gracefully (4 -> 2)", func() error {
			live := s.live()
			return errors.Join(stopController(live[0]), stopController(live[1]))
		}},
	}
	for _, step := range steps {
		logf("--- %s", step.name)
		before, err := scrapeAPIServer(ctx, e.kube)
		if err != nil {
			return phases, err
		}
		begin := time.Now()
		if err := step.change(); err != nil {
			return phases, fmt.Errorf("%s: %w", step.name, err)
		}
		p, err := s.settle(ctx, step.name, begin, before)
		phases = append(phases, p)
		if err != nil {
			return phases, err
		}
	}
	return phases, nil
}

// start starts one more replica and waits until it serves /readyz.
func (s *shardRun) start(ctx context.Context) error {
	s.started++
	logPath := filepath.Join(s.e.cfg.OutDir, fmt.Sprintf("replica-%d.log", s.started))
	r, err := startController(ctx, s.e.cfg.ControllerBin, s.args, logPath)
	if err != nil {
		return err
	}
	s.replicas = append(s.replicas, r)
	return nil
}

// live returns the replicas still running.
func (s *shardRun) live() []*framework.Controller {
	var out []*framework.Controller
	for _, r := range s.replicas {
		if r.Running() {
			out = append(out, r)
		}
	}
	return out
}

// settle waits until the live replicas agree on their number and hold N
// Mydemos between them, then watches three more probe periods, and
// returns what the phase cost since begin (before is the API server's
// metrics then).
func (s *shardRun) settle(ctx context.Context, name string, begin time.Time, before framework.Metrics) (shardPhase, error) {
	p := shardPhase{Name: name}
	n := len(s.e.names)
	err := framework.Poll(ctx, s.e.cfg.Timeout, 50*time.Millisecond, name+": the shares settled", func() (bool, string, error) {
		live := s.live()
		total, shares := 0, make([]int, 0, len(live))
		for _, r := range live {
			m, err := r.Scrape(ctx)
			if err != nil {
				return false, err.Error(), nil
			}
			if int(m.Sum(metricShardMembers, nil)) != len(live) {
				return false, fmt.Sprintf("%s counts %v members", r.Name(), m.Sum(metricShardMembers, nil)), nil
			}
			held := int(m.Sum(metricShardMydemos, nil))
			total += held
			shares = append(shares, held)
		}
		p.Shares = shares
		return total == n, fmt.Sprintf("shares %v of %d", shares, n), nil
	})
	p.SettledSeconds = time.Since(begin).Seconds()
	p.Replicas = len(s.live())
	if err != nil {
		return p, err
	}
	s.logf("%s: settled in %.2f s, shares %v", name, p.SettledSeconds, p.Shares)

	// Three probe periods: long enough for a verdict lost in the move to
	// be written; the probes of the last two say who probes what.
	var probes []float64
	wait := func(d time.Duration) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
			return nil
		}
	}
	if err := wait(s.e.cfg.ProbePeriod); err != nil {
		return p, err
	}
	live := s.live()
	for _, r := range live {
		m, err := r.Scrape(ctx)
		if err != nil {
			return p, err
		}
		probes = append(probes, m.Sum(metricProbes, nil))
	}
	if err := wait(2 * s.e.cfg.ProbePeriod); err != nil {
		return p, err
	}
	for i, r := range live {
		m, err := r.Scrape(ctx)
		if err != nil {
			return p, err
		}
		p.ProbesPerReplica = append(p.ProbesPerReplica, int64(m.Sum(metricProbes, nil)-probes[i]))
	}
	after, err := scrapeAPIServer(ctx, s.e.kube)
	if err != nil {
		return p, err
	}
	p.Writes = map[string]int64{}
	for k, v := range diffMap(countServer(before).writesByResource, countServer(after).writesByResource) {
		if strings.HasPrefix(k, "services") || strings.HasPrefix(k, "endpointslices") || strings.HasPrefix(k, "mydemos") {
			p.Writes[k] = v
		}
	}
	return p, nil
}
