// Package controller is the Mydemo control loop: it publishes each Mydemo as
// a selector-less Service with an EndpointSlice, keeps the endpoint's
// readiness in step with a TCP probe, and reports what it did in the
// Mydemo's status and Events.
package controller

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	coreinformers "k8s.io/client-go/informers/core/v1"
	discoveryinformers "k8s.io/client-go/informers/discovery/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/generated/clientset/versioned"
	crddemoscheme "github.com/crddemo/crddemo/pkg/generated/clientset/versioned/scheme"
	crddemoinformers "github.com/crddemo/crddemo/pkg/generated/informers/externalversions/crddemo/v1"
	crddemolisters "github.com/crddemo/crddemo/pkg/generated/listers/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/probe"
)

// ControllerName names the workqueue, the event source and the logger.
const ControllerName = "mydemo-controller"

// Prober is what the controller needs from the prober: a schedule per
// Mydemo and its current verdict. *probe.Prober implements it.
type Prober interface {
	Ensure(key cache.ObjectName, target probe.Target)
	Seed(key cache.ObjectName, state probe.State) bool
	Forget(key cache.ObjectName)
	State(key cache.ObjectName) (probe.State, bool)
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
	// ProbeConcurrency bounds the probes in flight at once.
	ProbeConcurrency int
	// Dial replaces the prober's TCP dialer (tests).
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// Clock is used for condition timestamps and by the prober.
	Clock clock.WithTicker
	// Observer receives sync results; nil discards them.
	Observer SyncObserver
	// ProbeObserver receives probe results; nil discards them.
	ProbeObserver func(result string, d time.Duration)
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
}

// Controller publishes Mydemos. Informers feed a named, rate-limited
// workqueue of Mydemo keys; workers run syncMydemo for one key at a time;
// the prober probes beside them and enqueues a key only when its
// reachability changes.
type Controller struct {
	kubeClient   kubernetes.Interface
	mydemoClient versioned.Interface

	mydemoLister  crddemolisters.MydemoLister
	serviceLister corelisters.ServiceLister
	sliceLister   discoverylisters.EndpointSliceLister
	sliceIndexer  cache.Indexer
	// cachesSynced report whether each informer, and our handler on it,
	// has seen the initial list.
	cachesSynced []cache.InformerSynced

	queue       workqueue.TypedRateLimitingInterface[cache.ObjectName]
	recorder    record.EventRecorder
	broadcaster record.EventBroadcaster
	prober      Prober
	// recent holds our writes that the informers have not delivered yet.
	recent      *recentWrites
	clock       clock.PassiveClock
	observer    SyncObserver
	syncTimeout time.Duration

	// syncHandler is syncMydemo; a field so tests can replace it.
	syncHandler func(ctx context.Context, key cache.ObjectName) error
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

	// Events are recorded against Mydemos, so the scheme must know them.
	utilruntime.Must(crddemoscheme.AddToScheme(scheme.Scheme))
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartStructuredLogging(3)
	eventClient := opts.EventClient
	if eventClient == nil {
		eventClient = kubeClient
	}
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: eventClient.CoreV1().Events("")})

	c := &Controller{
		kubeClient:    kubeClient,
		mydemoClient:  mydemoClient,
		mydemoLister:  mydemoInformer.Lister(),
		serviceLister: serviceInformer.Lister(),
		sliceLister:   sliceInformer.Lister(),
		sliceIndexer:  sliceInformer.Informer().GetIndexer(),
		// Per-key exponential backoff only: a global token bucket would
		// slow the retries of every Mydemo because of a few failing ones.
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[cache.ObjectName](10*time.Millisecond, opts.MaxRetryDelay),
			workqueue.TypedRateLimitingQueueConfig[cache.ObjectName]{Name: ControllerName},
		),
		recorder:    broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: ControllerName}),
		broadcaster: broadcaster,
		recent:      newRecentWrites(),
		clock:       opts.Clock,
		observer:    opts.Observer,
		syncTimeout: opts.SyncTimeout,
	}
	c.syncHandler = c.syncMydemo
	c.prober = probe.New(probe.Options{
		Concurrency:  opts.ProbeConcurrency,
		OnTransition: c.queue.Add,
		Clock:        opts.Clock,
		Dial:         opts.Dial,
		Observe:      opts.ProbeObserver,
	})

	if err := sliceInformer.Informer().AddIndexers(cache.Indexers{ownerIndex: indexByOwner}); err != nil {
		return nil, fmt.Errorf("adding the EndpointSlice owner index: %w", err)
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
		AddFunc:    c.enqueueOwner,
		UpdateFunc: c.updateChild,
		DeleteFunc: c.enqueueOwner,
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
	return c, nil
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
	defer c.broadcaster.Shutdown()
	logger := klog.FromContext(ctx)
	logger.Info("Starting controller", "controller", ControllerName, "workers", workers)

	if !cache.WaitForNamedCacheSyncWithContext(ctx, c.cachesSynced...) {
		c.queue.ShutDown()
		return errors.New("caches did not sync before the controller was stopped")
	}

	var wg sync.WaitGroup
	wg.Go(func() { c.prober.Run(ctx) })
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
// bounded by syncTimeout instead.
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
	start := c.clock.Now()
	err := c.syncHandler(syncCtx, key)
	result := SyncSuccess
	switch {
	case err == nil:
		c.queue.Forget(key)
	case errors.Is(err, errRetryLater) || apierrors.IsConflict(err):
		// Expected: the cause is in status, or our cache was stale.
		result = SyncRetry
		klog.FromContext(ctx).V(4).Info("Retrying", "mydemo", key, "reason", err)
		c.queue.AddRateLimited(key)
	default:
		result = SyncError
		utilruntime.HandleErrorWithContext(ctx, err, "Error syncing; requeuing for later retry", "mydemo", key)
		c.queue.AddRateLimited(key)
	}
	if c.observer != nil {
		c.observer.ObserveSync(result, c.clock.Since(start))
	}
	return true
}

func (c *Controller) enqueueMydemo(obj any) {
	key, err := cache.ObjectToName(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.recent.forget(kindMydemo, key.Namespace, key.Name)
	c.queue.Add(key)
}

// updateMydemo ignores updates that changed only status: those are mostly
// our own writes, and reacting to them would loop. A resync (same
// resourceVersion) is let through so drift gets repaired periodically.
func (c *Controller) updateMydemo(oldObj, newObj any) {
	oldMd, ok1 := oldObj.(*crddemov1.Mydemo)
	newMd, ok2 := newObj.(*crddemov1.Mydemo)
	if ok1 && ok2 && oldMd.ResourceVersion != newMd.ResourceVersion && !specOrMetaChanged(oldMd, newMd) {
		// The cache now holds this status (our write, or a newer one).
		c.recent.forget(kindMydemo, newMd.Namespace, newMd.Name)
		return
	}
	c.enqueueMydemo(newObj)
}

func specOrMetaChanged(oldMd, newMd *crddemov1.Mydemo) bool {
	return oldMd.Generation != newMd.Generation ||
		oldMd.UID != newMd.UID ||
		!oldMd.DeletionTimestamp.Equal(newMd.DeletionTimestamp) ||
		!maps.Equal(oldMd.Labels, newMd.Labels)
}

// deleteMydemo stops the probe at once, without waiting for a worker.
func (c *Controller) deleteMydemo(obj any) {
	key, err := cache.DeletionHandlingObjectToName(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.prober.Forget(key)
	c.recent.forget(kindMydemo, key.Namespace, key.Name)
	c.queue.Add(key)
}

// updateChild skips resyncs of children: their owner is resynced anyway.
func (c *Controller) updateChild(oldObj, newObj any) {
	oldMeta, err1 := metaOf(oldObj)
	newMeta, err2 := metaOf(newObj)
	if err1 == nil && err2 == nil && oldMeta.GetResourceVersion() == newMeta.GetResourceVersion() {
		return
	}
	c.enqueueOwner(newObj)
}

// enqueueOwner enqueues the Mydemo that controls a Service or EndpointSlice,
// so a change made by someone else is reverted.
func (c *Controller) enqueueOwner(obj any) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	meta, err := metaOf(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	// The cache now holds this version of the object, or knows it is gone.
	switch obj.(type) {
	case *corev1.Service:
		c.recent.forget(kindService, meta.GetNamespace(), meta.GetName())
	case *discoveryv1.EndpointSlice:
		c.recent.forget(kindEndpointSlice, meta.GetNamespace(), meta.GetName())
	}
	if owner, ok := controllingMydemo(meta); ok {
		c.queue.Add(owner)
	}
}

func metaOf(obj any) (metav1.Object, error) {
	meta, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("unexpected object of type %T", obj)
	}
	return meta, nil
}
