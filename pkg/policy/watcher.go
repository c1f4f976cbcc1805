package policy

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/generated/clientset/versioned"
	crddemoinformers "github.com/crddemo/crddemo/pkg/generated/informers/externalversions"
	crddemolisters "github.com/crddemo/crddemo/pkg/generated/listers/crddemo/v1"
)

// QueueName names the watcher's workqueue (metrics).
const QueueName = "mydemo-address-policy"

// coalesce is how long the watcher waits after a change before it
// rebuilds the snapshot, so a burst (a Node pool added, many policies
// applied at once) costs one rebuild and one re-enqueue of the Mydemos.
const coalesce = 200 * time.Millisecond

// snapshotKey is the only key of the watcher's queue.
const snapshotKey = "snapshot"

// Options configure a Watcher.
type Options struct {
	// ServiceCIDRs are Service ranges named by the admin (a cluster
	// without the ServiceCIDR API, or one where it is not readable).
	ServiceCIDRs []netip.Prefix
	// DeniedCIDRs are more ranges no Mydemo may publish, such as Pod
	// ranges a CNI keeps somewhere other than Node objects.
	DeniedCIDRs []netip.Prefix
	// OnChange is called when decisions may have changed: with a
	// namespace when only that namespace's labels changed, with "" when
	// the cluster networks or the policies did.
	OnChange func(namespace string)
	// ResyncPeriod of the informers (0: none).
	ResyncPeriod time.Duration
}

// Watcher keeps a Snapshot of the cluster networks and AddressPolicies
// current, and answers Refusal from it and from the namespaces' labels. It
// watches Nodes, Namespaces, ServiceCIDRs, the default/kubernetes
// EndpointSlice and AddressPolicies, each trimmed to what a decision reads.
type Watcher struct {
	opts Options

	kubeFactory      informers.SharedInformerFactory
	apiServerFactory informers.SharedInformerFactory
	policyFactory    crddemoinformers.SharedInformerFactory

	nodes      corelisters.NodeLister
	namespaces corelisters.NamespaceLister
	cidrs      networkinglisters.ServiceCIDRLister
	apiServer  discoverylisters.EndpointSliceLister
	policies   crddemolisters.AddressPolicyLister
	synced     []cache.InformerSynced
	discovery  discovery.DiscoveryInterface
	rebuild    cache.ResourceEventHandler

	queue   workqueue.TypedRateLimitingInterface[string]
	current atomic.Pointer[Snapshot]
	// builtSet is true once the first snapshot exists.
	builtSet atomic.Bool
}

// NewWatcher builds the watcher and its informers. Nothing runs until
// Start and Run.
func NewWatcher(kubeClient kubernetes.Interface, mydemoClient versioned.Interface, opts Options) (*Watcher, error) {
	w := &Watcher{
		opts:      opts,
		discovery: kubeClient.Discovery(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: QueueName}),
	}
	w.kubeFactory = informers.NewSharedInformerFactoryWithOptions(kubeClient, opts.ResyncPeriod, informers.WithTransform(trim))
	// Only the API server's own slice: the cluster may hold 100k others.
	w.apiServerFactory = informers.NewSharedInformerFactoryWithOptions(kubeClient, opts.ResyncPeriod,
		informers.WithNamespace(metav1.NamespaceDefault),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = discoveryv1.LabelServiceName + "=kubernetes"
		}),
		informers.WithTransform(trim))
	w.policyFactory = crddemoinformers.NewSharedInformerFactoryWithOptions(mydemoClient, opts.ResyncPeriod, crddemoinformers.WithTransform(trim))

	rebuild := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { w.queue.AddAfter(snapshotKey, coalesce) },
		UpdateFunc: func(old, new any) { w.nodeOrOtherUpdated(old, new) },
		DeleteFunc: func(any) { w.queue.AddAfter(snapshotKey, coalesce) },
	}
	w.rebuild = rebuild
	add := w.addHandler

	nodes := w.kubeFactory.Core().V1().Nodes()
	w.nodes = nodes.Lister()
	if err := add(nodes.Informer(), rebuild); err != nil {
		return nil, err
	}
	apiSlices := w.apiServerFactory.Discovery().V1().EndpointSlices()
	w.apiServer = apiSlices.Lister()
	if err := add(apiSlices.Informer(), rebuild); err != nil {
		return nil, err
	}
	policies := w.policyFactory.Crddemo().V1().AddressPolicies()
	w.policies = policies.Lister()
	if err := add(policies.Informer(), rebuild); err != nil {
		return nil, err
	}
	namespaces := w.kubeFactory.Core().V1().Namespaces()
	w.namespaces = namespaces.Lister()
	err := add(namespaces.Informer(), cache.ResourceEventHandlerFuncs{
		// A new namespace's Mydemos may have been decided with no labels
		// while its cache entry was missing.
		AddFunc: func(obj any) { w.namespaceChanged(nil, obj) },
		UpdateFunc: func(old, new any) {
			w.namespaceChanged(old, new)
		},
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Watcher) addHandler(inf cache.SharedIndexInformer, h cache.ResourceEventHandler) error {
	reg, err := inf.AddEventHandler(h)
	if err != nil {
		return err
	}
	w.synced = append(w.synced, reg.HasSynced)
	return nil
}

// watchServiceCIDRs adds the ServiceCIDR informer when the API server
// serves networking.k8s.io/v1 servicecidrs (Kubernetes 1.33 and later).
// Without it, only the ranges of Options.ServiceCIDRs are known as
// Service ranges, which is logged.
func (w *Watcher) watchServiceCIDRs(ctx context.Context) error {
	logger := klog.FromContext(ctx)
	var served bool
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		list, err := w.discovery.ServerResourcesForGroupVersion(networkingv1.SchemeGroupVersion.String())
		switch {
		case apierrors.IsNotFound(err):
			return true, nil
		case err != nil:
			logger.Info("Discovering the ServiceCIDR API failed; retrying", "err", err)
			return false, nil
		}
		served = slices.ContainsFunc(list.APIResources, func(r metav1.APIResource) bool { return r.Name == "servicecidrs" })
		return true, nil
	})
	if err != nil {
		return err
	}
	if !served {
		logger.Info("The API server does not serve networking.k8s.io/v1 ServiceCIDRs; only the ranges of --service-cidrs are refused as Service ranges", "serviceCIDRs", w.opts.ServiceCIDRs)
		return nil
	}
	cidrs := w.kubeFactory.Networking().V1().ServiceCIDRs()
	w.cidrs = cidrs.Lister()
	return w.addHandler(cidrs.Informer(), w.rebuild)
}

// HasSynced reports whether every input is cached and the first snapshot
// is built. Until then the controller must not decide: an empty snapshot
// would allow the cluster's own networks.
func (w *Watcher) HasSynced() bool {
	return w.builtSet.Load()
}

// Run starts the informers and rebuilds the snapshot whenever an input
// changed, until ctx ends; it returns once the informers have stopped.
func (w *Watcher) Run(ctx context.Context) {
	defer utilruntime.HandleCrashWithContext(ctx)
	defer w.queue.ShutDown()
	logger := klog.FromContext(ctx).WithValues("controller", QueueName)
	ctx = klog.NewContext(ctx, logger)
	logger.Info("Starting address policy watcher")
	defer logger.Info("Shutting down address policy watcher")
	if err := w.watchServiceCIDRs(ctx); err != nil {
		return
	}
	for _, f := range []interface{ Start(<-chan struct{}) }{w.kubeFactory, w.apiServerFactory, w.policyFactory} {
		f.Start(ctx.Done())
	}
	defer func() {
		w.kubeFactory.Shutdown()
		w.apiServerFactory.Shutdown()
		w.policyFactory.Shutdown()
	}()
	if !cache.WaitForNamedCacheSyncWithContext(ctx, w.synced...) {
		return
	}
	w.build(ctx)
	go wait.UntilWithContext(ctx, func(ctx context.Context) {
		for w.processNext(ctx) {
		}
	}, time.Second)
	<-ctx.Done()
}

func (w *Watcher) processNext(ctx context.Context) bool {
	key, quit := w.queue.Get()
	if quit {
		return false
	}
	defer w.queue.Done(key)
	w.build(ctx)
	return true
}

// build makes a snapshot from the caches and, if it differs from the
// current one, swaps it in and tells OnChange.
func (w *Watcher) build(ctx context.Context) {
	logger := klog.FromContext(ctx)
	in := w.inputs(ctx)
	next := NewSnapshot(in.cluster, in.denied, in.rules)
	old := w.current.Load()
	if old != nil && reflect.DeepEqual(old.key(), next.key()) {
		return
	}
	w.current.Store(next)
	first := !w.builtSet.Swap(true)
	logger.V(2).Info("Address policy snapshot built", "clusterRanges", next.cluster.Len(), "deniedRanges", next.denied.Len(), "policies", len(next.rules), "first", first)
	if !first && w.opts.OnChange != nil {
		w.opts.OnChange("")
	}
}

type inputs struct {
	cluster, denied []NamedPrefix
	rules           []Rule
}

// inputs reads every range and rule from the caches. The API server
// validates ServiceCIDRs, Nodes and EndpointSlices, so an unparseable
// entry there is not expected and is skipped.
func (w *Watcher) inputs(ctx context.Context) inputs {
	logger := klog.FromContext(ctx)
	var in inputs
	// The sources name objects, for the admin's log (a tenant never sees
	// them). Lists are sorted by name so that a range two objects share
	// is credited to the same one on every rebuild, and an unchanged
	// cluster builds an equal snapshot.
	for _, p := range w.opts.ServiceCIDRs {
		in.cluster = append(in.cluster, NamedPrefix{p, "flag --service-cidrs"})
	}
	for _, p := range w.opts.DeniedCIDRs {
		in.denied = append(in.denied, NamedPrefix{p, "flag --denied-cidrs"})
	}
	if w.cidrs != nil {
		list, _ := w.cidrs.List(labels.Everything())
		slices.SortFunc(list, byName)
		for _, sc := range list {
			for _, s := range sc.Spec.CIDRs {
				if p, err := netip.ParsePrefix(s); err == nil {
					in.cluster = append(in.cluster, NamedPrefix{p, "ServiceCIDR " + sc.Name})
				}
			}
		}
	}
	nodes, _ := w.nodes.List(labels.Everything())
	slices.SortFunc(nodes, byName)
	for _, n := range nodes {
		for _, s := range n.Spec.PodCIDRs {
			if p, err := netip.ParsePrefix(s); err == nil {
				in.cluster = append(in.cluster, NamedPrefix{p, "Pod range of Node " + n.Name})
			}
		}
		for _, a := range n.Status.Addresses {
			if addr, err := netip.ParseAddr(a.Address); err == nil {
				in.cluster = append(in.cluster, NamedPrefix{netip.PrefixFrom(addr, addr.BitLen()), fmt.Sprintf("%s of Node %s", a.Type, n.Name)})
			}
		}
	}
	apiSlices, _ := w.apiServer.List(labels.Everything())
	slices.SortFunc(apiSlices, byName)
	for _, s := range apiSlices {
		for _, e := range s.Endpoints {
			for _, a := range e.Addresses {
				if addr, err := netip.ParseAddr(a); err == nil {
					in.cluster = append(in.cluster, NamedPrefix{netip.PrefixFrom(addr, addr.BitLen()), "the API server's address (EndpointSlice default/" + s.Name + ")"})
				}
			}
		}
	}
	policies, _ := w.policies.List(labels.Everything())
	for _, ap := range policies {
		r, err := ruleOf(ap)
		if err != nil {
			// The CRD rejects such a policy; one stored before it did
			// still switches on restriction, but allows nothing: failing
			// open would lift every other policy's limits too.
			logger.Error(err, "AddressPolicy is invalid; it allows nothing", "addressPolicy", klog.KObj(ap))
			r = Rule{Name: ap.Name, Selector: labels.Nothing()}
		}
		in.rules = append(in.rules, r)
	}
	slices.SortFunc(in.rules, func(a, b Rule) int { return strings.Compare(a.Name, b.Name) })
	return in
}

func byName[T metav1.Object](a, b T) int { return strings.Compare(a.GetName(), b.GetName()) }

func ruleOf(ap *crddemov1.AddressPolicy) (Rule, error) {
	sel, err := metav1.LabelSelectorAsSelector(&ap.Spec.NamespaceSelector)
	if err != nil {
		return Rule{}, fmt.Errorf("spec.namespaceSelector: %w", err)
	}
	r := Rule{Name: ap.Name, Selector: sel}
	for i, s := range ap.Spec.CIDRs {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return Rule{}, fmt.Errorf("spec.cidrs[%d]: %w", i, err)
		}
		r.Prefixes = append(r.Prefixes, p.Masked())
	}
	return r, nil
}

// key is a comparable form of a snapshot, to tell whether a rebuild
// changed anything.
func (s *Snapshot) key() any {
	type rule struct {
		name, selector string
		prefixes       []netip.Prefix
	}
	rules := make([]rule, 0, len(s.rules))
	for _, r := range s.rules {
		rules = append(rules, rule{r.Name, r.Selector.String(), r.Prefixes})
	}
	return struct {
		cluster, denied map[netip.Prefix]string
		rules           []rule
	}{s.cluster.byPref, s.denied.byPref, rules}
}

// ForNamespace returns the decision for namespace's addresses: a
// function that says why an address may not be published, as a reason, a
// message for the tenant and a detail for the admin (see Decision), or
// "", "" and "" when it may. It reads the snapshot and the namespace's
// labels once, so a sync of a Mydemo with a thousand endpoints looks its
// namespace up once and decides every endpoint on one snapshot.
func (w *Watcher) ForNamespace(namespace string) func(netip.Addr) (reason, message, detail string) {
	s := w.current.Load()
	if s == nil {
		return func(netip.Addr) (string, string, string) {
			return ReasonNotAllowedByPolicy, msgNotAllowedByPolicy, "the address policy is not loaded yet"
		}
	}
	var nsLabels labels.Set
	ns, err := w.namespaces.Get(namespace)
	switch {
	case err == nil:
		nsLabels = ns.Labels
	case len(s.rules) > 0:
		// Unknown labels could match a selector such as NotIn; the
		// namespace's arrival in the cache re-syncs its Mydemos.
		detail := fmt.Sprintf("the labels of namespace %s are not known yet", namespace)
		return func(netip.Addr) (string, string, string) {
			return ReasonNotAllowedByPolicy, msgNotAllowedByPolicy, detail
		}
	}
	return func(addr netip.Addr) (string, string, string) {
		d := s.Evaluate(nsLabels, namespace, addr)
		if d.Allowed {
			return "", "", ""
		}
		return d.Reason, d.Message, d.Detail
	}
}

// Refusal is ForNamespace(namespace)(addr), for one address, without the
// detail.
func (w *Watcher) Refusal(namespace string, addr netip.Addr) (reason, message string) {
	reason, message, _ = w.ForNamespace(namespace)(addr)
	return reason, message
}

// nodeOrOtherUpdated rebuilds on an update only when a field a decision
// reads changed: Nodes are updated often (conditions, images), their
// ranges and addresses almost never.
func (w *Watcher) nodeOrOtherUpdated(old, new any) {
	if o, ok := old.(*corev1.Node); ok {
		if n, ok := new.(*corev1.Node); ok && slices.Equal(o.Spec.PodCIDRs, n.Spec.PodCIDRs) && slices.Equal(o.Status.Addresses, n.Status.Addresses) {
			return
		}
	}
	if o, ok := old.(metav1.Object); ok {
		if n, ok := new.(metav1.Object); ok && o.GetResourceVersion() == n.GetResourceVersion() {
			return // a resync
		}
	}
	w.queue.AddAfter(snapshotKey, coalesce)
}

// namespaceChanged re-decides a namespace's Mydemos when its labels
// changed.
func (w *Watcher) namespaceChanged(old, new any) {
	n, ok := new.(*corev1.Namespace)
	if !ok || !w.builtSet.Load() || w.opts.OnChange == nil {
		return
	}
	if o, ok := old.(*corev1.Namespace); ok && reflect.DeepEqual(o.Labels, n.Labels) {
		return
	}
	w.opts.OnChange(n.Name)
}

// trim keeps only what a decision reads, so 5,000 Nodes cost a few
// hundred bytes each in the cache instead of their full status (images,
// conditions, capacity).
func trim(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Node:
		addrs := make([]corev1.NodeAddress, 0, len(o.Status.Addresses))
		for _, a := range o.Status.Addresses {
			if a.Type == corev1.NodeInternalIP || a.Type == corev1.NodeExternalIP {
				addrs = append(addrs, a)
			}
		}
		return &corev1.Node{
			ObjectMeta: trimmedMeta(o.ObjectMeta, false),
			Spec:       corev1.NodeSpec{PodCIDRs: o.Spec.PodCIDRs},
			Status:     corev1.NodeStatus{Addresses: addrs},
		}, nil
	case *corev1.Namespace:
		return &corev1.Namespace{ObjectMeta: trimmedMeta(o.ObjectMeta, true)}, nil
	case *networkingv1.ServiceCIDR:
		return &networkingv1.ServiceCIDR{ObjectMeta: trimmedMeta(o.ObjectMeta, false), Spec: o.Spec}, nil
	case *discoveryv1.EndpointSlice:
		eps := make([]discoveryv1.Endpoint, 0, len(o.Endpoints))
		for _, e := range o.Endpoints {
			eps = append(eps, discoveryv1.Endpoint{Addresses: e.Addresses})
		}
		return &discoveryv1.EndpointSlice{ObjectMeta: trimmedMeta(o.ObjectMeta, false), AddressType: o.AddressType, Endpoints: eps}, nil
	case *crddemov1.AddressPolicy:
		return &crddemov1.AddressPolicy{ObjectMeta: trimmedMeta(o.ObjectMeta, false), Spec: o.Spec}, nil
	}
	return obj, nil // tombstones and anything unexpected pass as they are
}

func trimmedMeta(m metav1.ObjectMeta, keepLabels bool) metav1.ObjectMeta {
	out := metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion}
	if keepLabels {
		out.Labels = m.Labels
	}
	return out
}
