// Package controller is the Mydemo control loop: it publishes each Mydemo as
// a selector-less Service with EndpointSlices, keeps each endpoint's
// readiness in step with its own probe, and reports what it did in the
// Mydemo's status (per endpoint and in aggregate) and Events.
package controller

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	coreinformers "k8s.io/client-go/informers/core/v1"
	discoveryinformers "k8s.io/client-go/informers/discovery/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/generated/clientset/versioned"
	crddemoinformers "github.com/crddemo/crddemo/pkg/generated/informers/externalversions/crddemo/v1"
	crddemolisters "github.com/crddemo/crddemo/pkg/generated/listers/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/probe"
	"github.com/crddemo/crddemo/pkg/resolve"
)

// ControllerName names the workqueue, the event source and the logger.
const ControllerName = "mydemo-controller"

// AddressPolicy decides which addresses a namespace may publish (and
// have probed). *policy.Watcher implements it; the controller re-syncs the
// affected Mydemos when told through EnqueueNamespace.
type AddressPolicy interface {
	// ForNamespace returns the decision for namespace's addresses, made
	// on one view of the rules: why an address may not be published, as
	// a CamelCase reason, a message for the tenant and a detail for the
	// admin (the log only); "", "" and "" allow it.
	ForNamespace(namespace string) func(netip.Addr) (reason, message, detail string)
	// HasSynced reports whether decisions can be made yet.
	HasSynced() bool
}

// Prober is what the controller needs from the prober: one call per sync
// that schedules a Mydemo's targets and returns their verdicts. The prober
// calls back (through the function it was built with) when a verdict
// changes. *probe.Prober implements it.
type Prober interface {
	Sync(key cache.ObjectName, targets []probe.Target) []probe.State
	Forget(key cache.ObjectName)
	Run(ctx context.Context)
}

// Resolver is what the controller needs from the resolver: one call per
// sync that schedules a Mydemo's hostnames and returns their answers.
// *resolve.Resolver implements it.
type Resolver interface {
	Sync(key cache.ObjectName, hostnames []string, period time.Duration) map[string]resolve.Answer
	Forget(key cache.ObjectName)
	Run(ctx context.Context)
}

// SyncObserver receives the outcome of every sync, for metrics.
type SyncObserver interface {
	ObserveSync(result string, duration time.Duration)
}

// Sync results passed to SyncObserver.
const (
	SyncSuccess = "success"
	SyncRetry   = "retry"
	SyncError   = "error"
)

// Options tune a Controller. The zero value is usable.
type Options struct {
	// NewProber builds the prober, given the function it must call with
	// a key whenever a verdict of one of the key's targets changes. nil
	// means probe.New with its defaults and Clock (the operator builds
	// its own, with the flags and metrics).
	NewProber func(onTransition func(cache.ObjectName)) Prober
	// DNSServer is the "host:port" of the DNS server hostnames are
	// resolved with; "" means the system's resolver configuration.
	DNSServer string
	// NewResolver builds the resolver, given the function it must call
	// with a key whenever one of the key's answers changes. nil means
	// resolve.New with DNSServer.
	NewResolver func(onChange func(cache.ObjectName)) Resolver
	// AddressPolicy, if set, may refuse endpoint addresses. Refused
	// addresses are neither published nor probed. Workers start only
	// once it has synced.
	AddressPolicy AddressPolicy
	// Clock is used for condition timestamps and by the prober.
	Clock clock.WithTicker
	// Observer receives sync results; nil discards them.
	Observer SyncObserver
	// MaxRetryDelay caps the backoff of a Mydemo that keeps failing, such
	// as one in conflict with a foreign Service. Default 30s.
	MaxRetryDelay time.Duration
	// EventClient sends Events. Giving it a client of its own, with its
	// own rate limiter, keeps a burst of Events (thousands of Mydemos
	// published at once) from delaying syncs. nil means the kubeClient.
	EventClient kubernetes.Interface
	// SyncTimeout bounds one sync. A sync in progress when the controller
	// is stopped is allowed to finish within it. Default 30s.
	SyncTimeout time.Duration
	// CertificateExpiryWarning is how close the earliest certificate a
	// Mydemo's TLS probes saw may come to its notAfter before the
	// CertificateValid condition turns False and a Warning Event
	// CertificateExpiring is sent; <= 0 means
	// DefaultCertificateExpiryWarning.
	CertificateExpiryWarning time.Duration
	// Shard, if set, gates the work of a replica that shares the Mydemos
	// with others (--sharding): a key is synced only while it allows.
	Shard Shard
}

// Shard is the one gate between the queue and a sync when replicas share
// the work. *shard.Manager implements it.
type Shard interface {
	// Begin reports whether key ("namespace/name") may be synced now;
	// when it may, end must be called after the sync: a change of owner
	// waits for it, so two replicas never sync one Mydemo at once. until
	// is when this replica's claim on the key may lapse: the sync sends
	// no request from then on.
	Begin(key string) (until time.Time, end func(), ok bool)
}

// Controller publishes Mydemos. Informers feed a named, rate-limited
// workqueue of Mydemo keys; workers run syncMydemo for one key at a time;
// the prober probes beside them and enqueues a key only when its
// reachability changes.
type Controller struct {
	kubeClient   kubernetes.Interface
	mydemoClient versioned.Interface

	mydemoLister   crddemolisters.MydemoLister
	serviceLister  corelisters.ServiceLister
	serviceIndexer cache.Indexer
	sliceIndexer   cache.Indexer
	// cachesSynced report whether each informer, and our handler on it,
	// has seen the initial list.
	cachesSynced []cache.InformerSynced

	queue    workqueue.TypedRateLimitingInterface[cache.ObjectName]
	recorder *eventPipeline
	prober   Prober
	resolver Resolver
	watches  *conflictWatches
	// addressPolicy may refuse endpoint addresses; nil allows all.
	addressPolicy AddressPolicy
	// recent holds our writes that the informers have not delivered yet.
	recent *recentWrites
	// statusDeferrals holds status writes waiting behind other Mydemos'
	// slice writes.
	statusDeferrals *statusDeferrals
	// wording paces status writes that change only messages.
	wording     *wordingPace
	clock       clock.PassiveClock
	observer    SyncObserver
	syncTimeout time.Duration
	// certWarning is Options.CertificateExpiryWarning, defaulted.
	certWarning time.Duration
	// shard gates syncs by ownership; nil owns every key.
	shard Shard

	// syncHandler is syncMydemo; a field so tests can replace it.
	syncHandler func(ctx context.Context, key cache.ObjectName, q queueState) syncResult
}

// New builds a Controller on the given informers, which must come from the
// factories of NewInformerFactories (so children are label-filtered). It
// registers its event handlers; start the factories after New.
func New(ctx context.Context, kubeClient kubernetes.Interface, mydemoClient versioned.Interface,
	mydemoInformer crddemoinformers.MydemoInformer, serviceInformer coreinformers.ServiceInformer,
	sliceInformer discoveryinformers.EndpointSliceInformer, opts Options) (*Controller, error) {
	logger := klog.FromContext(ctx)
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.MaxRetryDelay <= 0 {
		opts.MaxRetryDelay = 30 * time.Second
	}
	if opts.SyncTimeout <= 0 {
		opts.SyncTimeout = 30 * time.Second
	}
	if opts.CertificateExpiryWarning <= 0 {
		opts.CertificateExpiryWarning = DefaultCertificateExpiryWarning
	}

	eventClient := opts.EventClient
	if eventClient == nil {
		eventClient = kubeClient
	}

	c := &Controller{
		kubeClient:     kubeClient,
		mydemoClient:   mydemoClient,
		mydemoLister:   mydemoInformer.Lister(),
		serviceLister:  serviceInformer.Lister(),
		serviceIndexer: serviceInformer.Informer().GetIndexer(),
		sliceIndexer:   sliceInformer.Informer().GetIndexer(),
		// Per-key exponential backoff only: a global token bucket would
		// slow the retries of every Mydemo because of a few failing ones.
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[cache.ObjectName](10*time.Millisecond, opts.MaxRetryDelay),
			workqueue.TypedRateLimitingQueueConfig[cache.ObjectName]{Name: ControllerName},
		),
		recorder:        newEventPipeline(eventClient),
		recent:          newRecentWrites(opts.Clock),
		statusDeferrals: newStatusDeferrals(opts.Clock),
		wording:         newWordingPace(opts.Clock),
		clock:           opts.Clock,
		observer:        opts.Observer,
		syncTimeout:     opts.SyncTimeout,
		certWarning:     opts.CertificateExpiryWarning,
		addressPolicy:   opts.AddressPolicy,
		shard:           opts.Shard,
	}
	c.syncHandler = c.syncMydemo
	c.watches = newConflictWatches(kubeClient, c.queue.Add)
	if opts.NewProber != nil {
		c.prober = opts.NewProber(c.queue.Add)
	} else {
		c.prober = probe.New(probe.Options{OnTransition: c.queue.Add, Clock: opts.Clock})
	}
	if opts.NewResolver != nil {
		c.resolver = opts.NewResolver(c.queue.Add)
	} else {
		c.resolver = resolve.New(resolve.Options{Server: opts.DNSServer, MaxAddrs: maxEndpoints, OnChange: c.queue.Add, Clock: opts.Clock})
	}

	// The queue runs a goroutine from the start: a failed New stops it.
	built := false
	defer func() {
		if !built {
			c.queue.ShutDown()
		}
	}()
	if err := sliceInformer.Informer().AddIndexers(cache.Indexers{ownerIndex: indexByOwner}); err != nil {
		return nil, fmt.Errorf("adding the EndpointSlice owner index: %w", err)
	}
	if err := serviceInformer.Informer().AddIndexers(cache.Indexers{ownerIndex: indexByOwner}); err != nil {
		return nil, fmt.Errorf("adding the Service owner index: %w", err)
	}

	logger.V(4).Info("Setting up event handlers")
	mydemoReg, err := mydemoInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueMydemo,
		UpdateFunc: c.updateMydemo,
		DeleteFunc: c.deleteMydemo,
	})
	if err != nil {
		return nil, fmt.Errorf("watching Mydemos: %w", err)
	}
	childHandler := cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addChild,
		UpdateFunc: c.updateChild,
		DeleteFunc: c.deleteChild,
	}
	serviceReg, err := serviceInformer.Informer().AddEventHandler(childHandler)
	if err != nil {
		return nil, fmt.Errorf("watching Services: %w", err)
	}
	sliceReg, err := sliceInformer.Informer().AddEventHandler(childHandler)
	if err != nil {
		return nil, fmt.Errorf("watching EndpointSlices: %w", err)
	}
	c.cachesSynced = []cache.InformerSynced{mydemoReg.HasSynced, serviceReg.HasSynced, sliceReg.HasSynced}
	if opts.AddressPolicy != nil {
		// Deciding before the policy is loaded would publish what it
		// refuses.
		c.cachesSynced = append(c.cachesSynced, opts.AddressPolicy.HasSynced)
	}
	built = true
	return c, nil
}

// EventCounts reports the controller's Event queue (metrics): Events
// recorded and not yet written to the API server, and Events dropped since
// start because the queue was full.
func (c *Controller) EventCounts() (unwritten, dropped int64) {
	return c.recorder.unwritten(), c.recorder.dropped.Load()
}

// HasSynced reports whether every cache has its initial list (readiness).
func (c *Controller) HasSynced() bool {
	for _, synced := range c.cachesSynced {
		if !synced() {
			return false
		}
	}
	return true
}

// Run waits for the caches, then runs the prober and workers until ctx is
// cancelled. On cancel it stops taking new keys, lets the syncs in progress
// finish, stops the prober and returns.
func (c *Controller) Run(ctx context.Context, workers int) error {
	defer utilruntime.HandleCrashWithContext(ctx)
	logger := klog.FromContext(ctx)
	logger.Info("Starting controller", "controller", ControllerName, "workers", workers)

	if !cache.WaitForNamedCacheSyncWithContext(ctx, c.cachesSynced...) {
		c.queue.ShutDown()
		return errors.New("caches did not sync before the controller was stopped")
	}

	// Only a running (leading) controller sends Events; those of the
	// last syncs are flushed before Run returns.
	c.recorder.start(ctx)
	defer c.recorder.shutdown(ctx)

	var wg sync.WaitGroup
	wg.Go(func() { c.prober.Run(ctx) })
	wg.Go(func() { c.resolver.Run(ctx) })
	wg.Go(func() { c.watches.run(ctx) })
	wg.Go(func() { c.releaseStatuses(ctx) })
	for range workers {
		wg.Go(func() { wait.UntilWithContext(ctx, c.runWorker, time.Second) })
	}
	logger.Info("Started workers", "controller", ControllerName)
	<-ctx.Done()
	logger.Info("Shutting down controller", "controller", ControllerName)
	// ShutDownWithDrain waits for keys being processed; the workers then
	// see the shut-down queue and return.
	c.queue.ShutDownWithDrain()
	wg.Wait()
	logger.Info("Controller stopped", "controller", ControllerName)
	return nil
}

func (c *Controller) runWorker(ctx context.Context) {
	for c.processNextItem(ctx) {
	}
}

// processNextItem syncs one key. A sync runs on a context that is not
// cancelled with ctx, so a stop never cuts a sync between two writes; it is
// bounded by syncTimeout instead, and by the shard's claim on the key.
func (c *Controller) processNextItem(ctx context.Context) bool {
	key, shutdown := c.queue.Get()
	if shutdown {
		return false
	}
	defer c.queue.Done(key)
	if ctx.Err() != nil {
		// Stopping: leave the remaining keys to the next leader.
		return false
	}
	syncCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.syncTimeout)
	defer cancel()
	if c.shard != nil {
		until, end, ok := c.shard.Begin(key.String())
		if !ok {
			// Another replica's key; ShardChanged queues it again if it
			// becomes ours.
			c.queue.Forget(key)
			return true
		}
		defer end()
		// A sync that runs past our claim (the process was paused, a
		// renewal hung) could write after another replica took the key
		// over: client-go sends no request on a context that is done.
		var cancelClaim context.CancelFunc
		syncCtx, cancelClaim = context.WithDeadline(syncCtx, until)
		defer cancelClaim()
	}
	start := c.clock.Now()
	r := c.syncHandler(syncCtx, key, queueState{failures: c.queue.NumRequeues(key), waiting: c.queue.Len})
	c.handleResult(ctx, key, r, c.clock.Since(start))
	return true
}

// handleResult does what a sync of key asked of the queue, and counts the
// sync: the one place where the retry policy meets the queue and metrics.
// A retry without an error, or after a conflict (our cache was stale), is
// expected and counted as a retry; one after any other error is logged and
// counted as an error. Either backs off per key.
func (c *Controller) handleResult(ctx context.Context, key cache.ObjectName, r syncResult, took time.Duration) {
	logger := klog.FromContext(ctx)
	result := SyncSuccess
	switch {
	case !r.retry:
		c.queue.Forget(key)
		if r.waitWatch {
			logger.V(4).Info("Waiting for a conflicting object to change", "mydemo", key)
		}
	case r.err == nil || apierrors.IsConflict(r.err):
		result = SyncRetry
		logger.V(4).Info("Retrying", "mydemo", key, "err", r.err)
		c.queue.AddRateLimited(key)
	default:
		result = SyncError
		utilruntime.HandleErrorWithContext(ctx, r.err, "Error syncing; requeuing for later retry", "mydemo", key)
		c.queue.AddRateLimited(key)
	}
	if r.requeueAfter > 0 {
		c.queue.AddAfter(key, r.requeueAfter)
	}
	if c.observer != nil {
		c.observer.ObserveSync(result, took)
	}
}

// releaseStatuses queues the Mydemos whose status no longer has to wait
// (deferrals.go decides which), every statusRecheck until ctx is done.
func (c *Controller) releaseStatuses(ctx context.Context) {
	wait.UntilWithContext(ctx, func(context.Context) {
		for _, key := range c.statusDeferrals.release(c.queue.Len()) {
			c.queue.Add(key)
		}
	}, statusRecheck)
}

// EnqueueNamespace queues every Mydemo of namespace ("" for all) for a
// sync: the address policy calls it when its decisions may have changed.
func (c *Controller) EnqueueNamespace(namespace string) {
	var list []*crddemov1.Mydemo
	var err error
	if namespace == "" {
		list, err = c.mydemoLister.List(labels.Everything())
	} else {
		list, err = c.mydemoLister.Mydemos(namespace).List(labels.Everything())
	}
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	for _, md := range list {
		c.queue.Add(cache.MetaObjectToName(md))
	}
}

func (c *Controller) enqueueMydemo(obj any) {
	key, err := cache.ObjectToName(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.queue.Add(key)
}

// updateMydemo enqueues every change, status included: a status written by
// someone else is corrected by the next sync, and the sync after our own
// status write finds nothing to do without a request. A resync (same
// resourceVersion) is let through so drift gets repaired periodically.
func (c *Controller) updateMydemo(oldObj, newObj any) {
	if md, ok := newObj.(*crddemov1.Mydemo); ok {
		c.recent.observed(kindMydemo, md, false)
	}
	c.enqueueMydemo(newObj)
}

// deleteMydemo stops the probes at once, without waiting for a worker.
func (c *Controller) deleteMydemo(obj any) {
	key, err := cache.DeletionHandlingObjectToName(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.forget(key)
	c.queue.Add(key)
}

// updateChild skips resyncs of children: their owner is resynced anyway.
// When the controller reference changed, the old owner must hear of it too
// (it lost a child), not only the new one.
func (c *Controller) updateChild(oldObj, newObj any) {
	oldMeta, err1 := metaOf(oldObj)
	newMeta, err2 := metaOf(newObj)
	if err1 == nil && err2 == nil && oldMeta.GetResourceVersion() == newMeta.GetResourceVersion() {
		return
	}
	if err1 == nil {
		if oldOwner, ok := controllingMydemo(oldMeta); ok {
			if newOwner, ok := controllingMydemo(newMeta); !ok || newOwner != oldOwner || ownerUID(oldMeta) != ownerUID(newMeta) {
				c.queue.Add(oldOwner)
			}
		}
	}
	c.childChanged(newObj, false)
}

func ownerUID(obj metav1.Object) types.UID {
	if ref := metav1.GetControllerOfNoCopy(obj); ref != nil {
		return ref.UID
	}
	return ""
}

func (c *Controller) addChild(obj any)    { c.childChanged(obj, false) }
func (c *Controller) deleteChild(obj any) { c.childChanged(obj, true) }

// childChanged enqueues the Mydemo that controls a Service or EndpointSlice,
// so a change made by someone else is reverted.
func (c *Controller) childChanged(obj any, deleted bool) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
		deleted = true
	}
	meta, err := metaOf(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	// The cache now holds this version of the object, or knows it is gone.
	switch obj.(type) {
	case *corev1.Service:
		c.recent.observed(kindService, meta, deleted)
	case *discoveryv1.EndpointSlice:
		c.recent.observed(kindEndpointSlice, meta, deleted)
	}
	if owner, ok := controllingMydemo(meta); ok {
		c.queue.Add(owner)
	}
}

func metaOf(obj any) (metav1.Object, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("unexpected object of type %T", obj)
	}
	return m, nil
}
