package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"

	"github.com/crddemo/crddemo/pkg/metrics"
	"github.com/crddemo/crddemo/pkg/operator"
	"github.com/crddemo/crddemo/pkg/shard"
	"github.com/crddemo/crddemo/pkg/version"
)

// errLeaseLost ends the process when another replica took the lease: the
// standard reaction, as a restart is the simplest way back to standby.
var errLeaseLost = errors.New("lost the leader-election lease")

// runController connects, checks the cluster, serves health and metrics
// and runs the operator — directly, or while holding the lease.
func runController(ctx context.Context, opts *options) error {
	logger := klog.FromContext(ctx)
	cfg, source, err := restConfig(opts.kubeconfig, opts.master)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = opts.qps, opts.burst
	logger.Info("Starting mydemo-controller", "version", version.Version, "apiServer", cfg.Host, "config", source,
		"namespace", namespaceOrAll(opts.namespace), "workers", opts.workers, "leaderElect", opts.leaderElect && !opts.sharding, "sharding", opts.sharding)

	serviceCIDRs, _ := parseCIDRs("--service-cidrs", opts.serviceCIDRs) // validated
	deniedCIDRs, _ := parseCIDRs("--denied-cidrs", opts.deniedCIDRs)
	m := metrics.New()
	var sharding *shard.Options
	if opts.sharding {
		host, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("getting the hostname for the shard identity: %w", err)
		}
		sharding = &shard.Options{
			Namespace:     opts.leaseNamespace(),
			Group:         opts.leaderElectResourceName,
			Identity:      host + "_" + randomSuffix(),
			LeaseDuration: opts.leaseDuration,
			RenewDeadline: opts.renewDeadline,
			RetryPeriod:   opts.retryPeriod,
			// As a leader that lost its Lease: no sync may run once
			// the others may have taken over.
			OnLost: func() {
				logger.Error(shard.ErrLost, "Exiting so that no sync runs without the Lease")
				klog.FlushAndExit(klog.ExitFlushTimeout, 1)
			},
		}
	}
	op, err := operator.New(ctx, operator.Config{
		Sharding:           sharding,
		ServiceCIDRs:       serviceCIDRs,
		DeniedCIDRs:        deniedCIDRs,
		RestConfig:         cfg,
		Namespace:          opts.namespace,
		Workers:            opts.workers,
		ProbeConcurrency:   opts.probeConcurrency,
		DisableFlapDamping: !opts.flapDamping,
		DNSServer:          opts.dnsServer,
		ResyncPeriod:       opts.resyncPeriod,
		Metrics:            m,

		CertificateExpiryWarning: opts.certExpiryWarning,
	})
	if err != nil {
		return err
	}
	if err := op.Preflight(ctx); err != nil {
		return err
	}
	m.Register(op.MydemoLister(), op.EventQueue())
	if opts.sharding {
		metrics.RegisterShard(op.ShardShare)
	}

	// With --sharding every replica works: no standby, no leader.
	leaderElect := opts.leaderElect && !opts.sharding
	var leading atomic.Bool
	var watchdog *leaderelection.HealthzAdaptor
	if leaderElect {
		watchdog = leaderelection.NewLeaderHealthzAdaptor(opts.renewDeadline)
	}
	ready := func() error {
		// A standby is ready: it is waiting, as it should. The leader is
		// ready once its caches are filled.
		if leaderElect && !leading.Load() {
			return nil
		}
		if !op.HasSynced() {
			return errors.New("caches not synced")
		}
		return nil
	}
	stopServers, err := startServers(ctx, opts, watchdog, ready)
	if err != nil {
		return err
	}
	defer stopServers()

	if !leaderElect {
		leading.Store(true)
		return op.Run(ctx)
	}
	runner := &leaseRunner{
		opts:     opts,
		client:   op.KubeClient(),
		watchdog: watchdog,
		leading:  &leading,
		exit:     func(code int) { klog.FlushAndExit(klog.ExitFlushTimeout, code) },
	}
	return runner.run(ctx, op.Run)
}

// leaseRunner runs work only while this replica holds the Lease.
type leaseRunner struct {
	opts     *options
	client   kubernetes.Interface
	watchdog *leaderelection.HealthzAdaptor
	// leading is read by /readyz.
	leading *atomic.Bool
	// exit ends the process when the lease is lost (a test seam).
	exit func(code int)
}

// run runs work while holding the Lease, until ctx is cancelled. On
// shutdown it stops work first, waits for the syncs in progress, and only
// then releases the Lease, so a standby never overlaps a finishing leader
// and takes over at once instead of after the lease duration. Losing the
// lease ends the process at once: no sync may run without it.
func (r *leaseRunner) run(ctx context.Context, work func(context.Context) error) error {
	logger := klog.FromContext(ctx)
	id, err := os.Hostname()
	if err != nil {
		return fmt.Errorf("getting the hostname for the leader-election identity: %w", err)
	}
	id = id + "_" + randomSuffix()
	leaseRef := klog.KRef(r.opts.leaseNamespace(), r.opts.leaderElectResourceName)
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, leaseRef.Namespace, leaseRef.Name,
		r.client.CoreV1(), r.client.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: id})
	if err != nil {
		return fmt.Errorf("creating the leader-election lock: %w", err)
	}

	// leCtx outlives ctx so the Lease can be released after work stopped.
	leCtx, leCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer leCancel()
	context.AfterFunc(ctx, func() {
		if !r.leading.Load() {
			leCancel()
		}
	})
	var started atomic.Bool
	workDone := make(chan struct{})
	var workErr error

	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   r.opts.leaseDuration,
		RenewDeadline:   r.opts.renewDeadline,
		RetryPeriod:     r.opts.retryPeriod,
		ReleaseOnCancel: true,
		WatchDog:        r.watchdog,
		Name:            r.opts.leaderElectResourceName,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(leaseCtx context.Context) {
				defer close(workDone)
				started.Store(true)
				r.leading.Store(true)
				logger.Info("Became the leader", "identity", id, "lease", leaseRef)
				// Work stops on shutdown (ctx) or when the lease is lost
				// (leaseCtx), whichever comes first.
				workCtx, cancel := context.WithCancel(leaseCtx)
				stop := context.AfterFunc(ctx, cancel)
				err := work(workCtx)
				stop()
				cancel()
				if ctx.Err() == nil && err != nil {
					logger.Error(err, "Controller stopped")
					workErr = err
				}
				// Work is over: release the Lease now.
				leCancel()
			},
			OnStoppedLeading: func() {
				r.leading.Store(false)
				if ctx.Err() == nil {
					logger.Error(errLeaseLost, "Exiting so that no sync runs without the lease", "identity", id, "lease", leaseRef)
					r.exit(1)
					return
				}
				logger.Info("Stopped leading", "identity", id)
			},
			OnNewLeader: func(identity string) {
				if identity != id {
					logger.Info("Another replica leads; standing by", "leader", identity)
				}
			},
		},
	})
	if err != nil {
		return fmt.Errorf("configuring leader election: %w", err)
	}
	if r.watchdog != nil {
		r.watchdog.SetLeaderElection(le)
	}
	le.Run(leCtx)
	if started.Load() {
		<-workDone
	}
	if workErr != nil {
		return workErr
	}
	if ctx.Err() == nil {
		return errLeaseLost
	}
	logger.Info("Shut down cleanly")
	return nil
}

func namespaceOrAll(ns string) string {
	if ns == "" {
		return "(all)"
	}
	return ns
}
