// Package operator wires the Mydemo controller to a cluster: clients,
// label-filtered informers, metrics and start-up checks. The binary and
// the integration tests both run the operator through it.
package operator

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/crddemo/crddemo/pkg/controller"
	"github.com/crddemo/crddemo/pkg/generated/clientset/versioned"
	crddemoinformers "github.com/crddemo/crddemo/pkg/generated/informers/externalversions"
	"github.com/crddemo/crddemo/pkg/metrics"
	"github.com/crddemo/crddemo/pkg/policy"
	"github.com/crddemo/crddemo/pkg/probe"
	"github.com/crddemo/crddemo/pkg/shard"
)

// Config says how to run the operator.
type Config struct {
	// RestConfig reaches the API server; its QPS and Burst are used as is.
	RestConfig *rest.Config
	// Namespace limits the operator to one namespace; "" means all.
	Namespace string
	// Workers is the number of concurrent syncs.
	Workers int
	// ProbeConcurrency bounds the probes in flight.
	ProbeConcurrency int
	// DisableFlapDamping turns the prober's flap damping off.
	DisableFlapDamping bool
	// DNSServer is the "host:port" hostnames are resolved with; "" means
	// the system's resolver configuration.
	DNSServer string
	// ResyncPeriod is how often every Mydemo is synced even without a
	// change, to repair drift the watches could not see.
	ResyncPeriod time.Duration
	// Metrics, if set, receives sync and probe results.
	Metrics *metrics.Metrics
	// Observer, if set, also receives sync results (tests, benchmarks).
	Observer controller.SyncObserver
	// Dial replaces the prober's TCP dialer (tests).
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// ServiceCIDRs are Service ranges to refuse besides those of the
	// cluster's ServiceCIDR objects.
	ServiceCIDRs []netip.Prefix
	// DeniedCIDRs are more ranges no Mydemo may publish or have probed,
	// such as Pod ranges a CNI does not record on Node objects.
	DeniedCIDRs []netip.Prefix
	// CertificateExpiryWarning is how close a certificate may come to its
	// expiry before the CertificateValid condition turns False and a
	// Warning Event says so; <= 0 means
	// controller.DefaultCertificateExpiryWarning.
	CertificateExpiryWarning time.Duration
	// Sharding, if set, shares the Mydemos with the other replicas of its
	// group (--sharding): its Client and OnChange are filled in here.
	Sharding *shard.Options
}

// Operator is one running instance of the controller with its informers.
type Operator struct {
	cfg           Config
	kubeClient    kubernetes.Interface
	mydemoClient  versioned.Interface
	kubeFactory   informers.SharedInformerFactory
	mydemoFactory crddemoinformers.SharedInformerFactory
	controller    *controller.Controller
	policy        *policy.Watcher
	// shard is nil unless sharding.
	shard *shard.Manager
}

// BuiltinKindsConfig is cfg for the clients of built-in kinds (Services,
// EndpointSlices, Events, Nodes, ...): they speak protobuf, as the API
// server's own components do, which costs both sides much less CPU per
// object than JSON, on every write and every watch event. Mydemos keep
// JSON: the API server serves custom resources only as JSON.
func BuiltinKindsConfig(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.ContentType = runtime.ContentTypeProtobuf
	c.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	return c
}

// New builds the clients, informers and controller. It does not contact
// the API server; Preflight does.
func New(ctx context.Context, cfg Config) (*Operator, error) {
	if cfg.RestConfig == nil {
		return nil, fmt.Errorf("no API server configuration")
	}
	if cfg.Workers < 1 {
		return nil, fmt.Errorf("workers must be at least 1, got %d", cfg.Workers)
	}
	restCfg := rest.CopyConfig(cfg.RestConfig)
	restCfg.UserAgent = rest.DefaultKubernetesUserAgent() + " " + controller.ControllerName
	kubeClient, err := kubernetes.NewForConfig(BuiltinKindsConfig(restCfg))
	if err != nil {
		return nil, fmt.Errorf("creating the Kubernetes client: %w", err)
	}
	mydemoClient, err := versioned.NewForConfig(restCfg)
	if err != nil {
		return nil, fmt.Errorf("creating the Mydemo client: %w", err)
	}
	kubeFactory, mydemoFactory := controller.NewInformerFactories(kubeClient, mydemoClient, cfg.Namespace, cfg.ResyncPeriod)
	mydemoInformer := mydemoFactory.Crddemo().V1().Mydemos()

	// Events get a client (and so a client-side rate limiter) of their own,
	// as kube-scheduler does, so publishing thousands of Mydemos at once
	// does not queue their syncs behind their Events.
	eventClient, err := kubernetes.NewForConfig(BuiltinKindsConfig(restCfg))
	if err != nil {
		return nil, fmt.Errorf("creating the Event client: %w", err)
	}
	// The address policy tells the controller (built below) which
	// Mydemos to re-sync when its decisions may have changed.
	var c *controller.Controller
	addressPolicy, err := policy.NewWatcher(kubeClient, mydemoClient, policy.Options{
		ServiceCIDRs: cfg.ServiceCIDRs,
		DeniedCIDRs:  cfg.DeniedCIDRs,
		ResyncPeriod: cfg.ResyncPeriod,
		OnChange:     func(namespace string) { c.EnqueueNamespace(namespace) },
	})
	if err != nil {
		return nil, fmt.Errorf("building the address policy: %w", err)
	}
	opts := controller.Options{EventClient: eventClient, DNSServer: cfg.DNSServer, AddressPolicy: addressPolicy,
		CertificateExpiryWarning: cfg.CertificateExpiryWarning}
	probeOpts := probe.Options{Concurrency: cfg.ProbeConcurrency, Dial: cfg.Dial, DisableFlapDamping: cfg.DisableFlapDamping}
	var observers multiObserver
	if cfg.Metrics != nil {
		observers = append(observers, cfg.Metrics)
		probeOpts.Observe = cfg.Metrics.ObserveProbe
		probeOpts.ObserveLateness = cfg.Metrics.ObserveProbeLateness
		probeOpts.ObserveSaturated = cfg.Metrics.ObserveProbeLate
	}
	// The prober is built here rather than by the controller so that its
	// lateness and saturation reach the metrics.
	opts.NewProber = func(onTransition func(cache.ObjectName)) controller.Prober {
		po := probeOpts
		po.OnTransition = onTransition
		return probe.New(po)
	}
	if cfg.Observer != nil {
		observers = append(observers, cfg.Observer)
	}
	if len(observers) > 0 {
		opts.Observer = observers
	}
	var manager *shard.Manager
	if cfg.Sharding != nil {
		so := *cfg.Sharding
		so.Client = kubeClient
		so.OnChange = func(previous, next *shard.Assignment) { c.ShardChanged(previous.Owns, next.Owns) }
		if manager, err = shard.NewManager(so); err != nil {
			return nil, err
		}
		opts.Shard = manager
	}
	c, err = controller.New(ctx, kubeClient, mydemoClient, mydemoInformer,
		kubeFactory.Core().V1().Services(), kubeFactory.Discovery().V1().EndpointSlices(), opts)
	if err != nil {
		return nil, err
	}
	return &Operator{
		cfg:           cfg,
		kubeClient:    kubeClient,
		mydemoClient:  mydemoClient,
		kubeFactory:   kubeFactory,
		mydemoFactory: mydemoFactory,
		controller:    c,
		policy:        addressPolicy,
		shard:         manager,
	}, nil
}

// KubeClient is the operator's Kubernetes client (for leader election).
func (o *Operator) KubeClient() kubernetes.Interface {
	return o.kubeClient
}

// MydemoLister lists Mydemos from the operator's cache (for metrics).
func (o *Operator) MydemoLister() metrics.ConditionLister {
	return o.mydemoFactory.Crddemo().V1().Mydemos().Lister()
}

// EventQueue reports the controller's Event backlog and drops (for metrics).
func (o *Operator) EventQueue() metrics.EventQueue {
	return o.controller.EventCounts
}

// HasSynced reports whether the caches are filled (readiness).
func (o *Operator) HasSynced() bool {
	return o.controller.HasSynced()
}

// Run starts the informers and the controller and blocks until ctx is
// cancelled and the controller has stopped.
func (o *Operator) Run(ctx context.Context) error {
	logger := klog.FromContext(ctx)
	o.kubeFactory.Start(ctx.Done())
	o.mydemoFactory.Start(ctx.Done())
	var wg sync.WaitGroup
	wg.Go(func() { o.policy.Run(ctx) })
	defer func() {
		o.kubeFactory.Shutdown()
		o.mydemoFactory.Shutdown()
		wg.Wait()
		logger.V(2).Info("Informers stopped")
	}()
	if o.shard == nil {
		return o.controller.Run(ctx, o.cfg.Workers)
	}
	// The membership runs beside the controller. A lost Lease stops the
	// controller too; on shutdown the membership stops the work first
	// (waiting for syncs in progress) and then leaves the group.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var shardErr error
	var member sync.WaitGroup
	member.Go(func() {
		shardErr = o.shard.Run(ctx)
		cancel()
	})
	err := o.controller.Run(ctx, o.cfg.Workers)
	cancel()
	member.Wait()
	if shardErr != nil {
		return shardErr
	}
	return err
}

// ShardShare counts the cached Mydemos this replica holds and the members
// it shares with (metrics, at scrape time: a Mydemo created after the
// last change of membership counts too).
func (o *Operator) ShardShare() (mydemos, members int) {
	a := o.Assignment()
	list, err := o.mydemoFactory.Crddemo().V1().Mydemos().Lister().List(labels.Everything())
	if err != nil {
		return 0, a.Members()
	}
	for _, md := range list {
		if a.Owns(cache.MetaObjectToName(md).String()) {
			mydemos++
		}
	}
	return mydemos, a.Members()
}

// Assignment is this replica's share with --sharding (nil otherwise, and
// before the first one).
func (o *Operator) Assignment() *shard.Assignment {
	if o.shard == nil {
		return nil
	}
	return o.shard.Assignment()
}

// multiObserver passes each sync result to several observers.
type multiObserver []controller.SyncObserver

func (m multiObserver) ObserveSync(result string, d time.Duration) {
	for _, o := range m {
		o.ObserveSync(result, d)
	}
}
