package controller

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/probe"
)

// observation is everything one sync knows of the world, read once at its
// start: the Mydemo, its Services and their EndpointSlices as the caches show
// them with our own writes the informers have not delivered yet folded in
// (recent.go), the resolver's answers and the prober's verdicts. Nothing
// after observe reads a lister, recentWrites, the resolver or the prober:
// the planner and the apply step take what they need from here. It is not
// changed once observe returns; a stage that refuses more endpoints
// (families.go) works on its own copy.
type observation struct {
	key cache.ObjectName
	// md is nil when the Mydemo is gone.
	md *crddemov1.Mydemo
	// services holds the Services of the names md needs (its own and one
	// per role of the spec), whoever controls them; a name is missing
	// when there is no such Service as far as we know.
	services map[string]*corev1.Service
	// watching holds the names md needs of which no Service is cached
	// while a watch on a foreign one runs (watches.go): it queues the key
	// when that Service changes, so asking the API server again is
	// pointless.
	watching map[string]bool
	// slices are the EndpointSlices md controls, by the Service they feed
	// (their kubernetes.io/service-name label).
	slices map[string][]*discoveryv1.EndpointSlice
	// staleServices are Services md controls that no longer publish
	// anything of the spec: those of roles removed from it.
	staleServices []*corev1.Service
	// spec is md's spec with the DNS answers and the address rules
	// applied, and the families the cached Service shows the cluster does
	// not serve refused. specErr says why it cannot be published at all.
	spec    parsedSpec
	specErr error
	// view is spec's endpoints with their verdicts and the hostnames with
	// their answers: every input of the status but the publication.
	view statusInput
}

// gone reports whether the Mydemo no longer exists.
func (o *observation) gone() bool { return o.md == nil }

// deleting reports whether the Mydemo is being deleted but still exists.
func (o *observation) deleting() bool { return o.md != nil && o.md.DeletionTimestamp != nil }

// observe reads key's world once. Asking the resolver and the prober is
// also what schedules the lookups and probes (one call each, which never
// blocks), so a Mydemo that is gone, being deleted or invalid asks neither;
// an invalid one has its probes dropped.
func (c *Controller) observe(ctx context.Context, key cache.ObjectName) (observation, error) {
	obs := observation{key: key}
	cached, err := c.mydemoLister.Mydemos(key.Namespace).Get(key.Name)
	if apierrors.IsNotFound(err) {
		return obs, nil
	}
	if err != nil {
		return observation{}, err
	}
	// Our last status write, if the cache has not delivered it yet.
	md, _ := freshest(c.recent, kindMydemo, key.Namespace, key.Name, cached, true)
	obs.md = md
	obs.slices = slicesByService(c.ownedSlices(md))
	if md.DeletionTimestamp != nil {
		return obs, nil
	}
	obs.services, obs.watching = map[string]*corev1.Service{}, map[string]bool{}
	needed := neededServices(md)
	for _, ref := range needed {
		svc, found, err := c.cachedService(md.Namespace, ref.name)
		if err != nil {
			return observation{}, err
		}
		if found {
			obs.services[ref.name] = svc
		} else if c.watches.watching(key, kindService, ref.name) {
			obs.watching[ref.name] = true
		}
	}
	obs.staleServices = c.staleServices(md, needed)

	answers := c.resolver.Sync(key, specHostnames(md), resolvePeriod(md))
	spec, err := parseSpec(md, answers, c.addressCheck(ctx, md))
	if err != nil {
		c.prober.Forget(key)
		obs.specErr = err
		return obs, nil
	}
	if svc := obs.services[md.Name]; svc != nil && isControlledBy(svc, md) {
		// Families the cluster is known not to serve are refused before
		// probing; the apply step learns the rest from the Service it
		// writes.
		refuseUnservedFamilies(&spec, nil, servedFamilies(svc))
	}
	obs.spec = spec

	targets, probed := planProbes(md, spec, obs.slices)
	var states []probe.State
	if len(targets) == 0 {
		c.prober.Forget(key)
	} else {
		states = c.prober.Sync(key, targets)
	}
	obs.view = viewOf(md, spec, probed, states)
	return obs, nil
}

// neededServices are the Services md publishes: its own, then one per
// role of its spec.
func neededServices(md *crddemov1.Mydemo) []serviceRef {
	refs := []serviceRef{mainService(md)}
	for _, r := range md.Spec.Roles {
		refs = append(refs, roleService(md, r.Name))
	}
	return refs
}

// staleServices are the Services md controls that needed does not name:
// those of roles removed from the spec, to be deleted. The owner index
// finds them without a scan of the namespace.
func (c *Controller) staleServices(md *crddemov1.Mydemo, needed []serviceRef) []*corev1.Service {
	objs, _ := c.serviceIndexer.ByIndex(ownerIndex, cache.MetaObjectToName(md).String())
	var out []*corev1.Service
	for _, obj := range objs {
		svc, ok := obj.(*corev1.Service)
		if !ok || !isControlledBy(svc, md) || slices.ContainsFunc(needed, func(r serviceRef) bool { return r.name == svc.Name }) {
			continue
		}
		if fresh, found := freshest(c.recent, kindService, svc.Namespace, svc.Name, svc, true); found {
			out = append(out, fresh)
		}
	}
	return out
}

// slicesByService groups slices by the Service they feed.
func slicesByService(owned []*discoveryv1.EndpointSlice) map[string][]*discoveryv1.EndpointSlice {
	out := make(map[string][]*discoveryv1.EndpointSlice, 1)
	for _, s := range owned {
		name := s.Labels[discoveryv1.LabelServiceName]
		out[name] = append(out[name], s)
	}
	return out
}

// cachedService is the Service from the cache, or our own newer write.
func (c *Controller) cachedService(namespace, name string) (*corev1.Service, bool, error) {
	svc, err := c.serviceLister.Services(namespace).Get(name)
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, false, fmt.Errorf("reading Service %s/%s from the cache: %w", namespace, name, err)
	}
	svc, found := freshest(c.recent, kindService, namespace, name, svc, err == nil)
	return svc, found, nil
}

// ownedSlices are the EndpointSlices md controls, as the cache shows them
// or as we last wrote them.
func (c *Controller) ownedSlices(md *crddemov1.Mydemo) []*discoveryv1.EndpointSlice {
	key := cache.ObjectName{Namespace: md.Namespace, Name: md.Name}
	objs, _ := c.sliceIndexer.ByIndex(ownerIndex, key.String())
	seen := map[string]bool{}
	var out []*discoveryv1.EndpointSlice
	for _, obj := range objs {
		slice, ok := obj.(*discoveryv1.EndpointSlice)
		if !ok {
			continue
		}
		seen[slice.Name] = true
		if fresh, found := freshest(c.recent, kindEndpointSlice, slice.Namespace, slice.Name, slice, true); found && isControlledBy(fresh, md) {
			out = append(out, fresh)
		}
	}
	for _, obj := range c.recent.created(kindEndpointSlice, key) {
		if slice, ok := obj.(*discoveryv1.EndpointSlice); ok && !seen[slice.Name] && isControlledBy(slice, md) {
			out = append(out, slice)
		}
	}
	return out
}

// addressCheck returns the cluster's address rules for md's namespace, or
// nil. The tenant gets the reason and a fixed message; which Node, range or
// flag refused the address goes to the log only, at -v=2 when md's status
// does not show that refusal yet (as its Event), at -v=4 on every sync.
func (c *Controller) addressCheck(ctx context.Context, md *crddemov1.Mydemo) func(netip.Addr) (reason, message string) {
	if c.addressPolicy == nil {
		return nil
	}
	decide := c.addressPolicy.ForNamespace(md.Namespace)
	logger := klog.FromContext(ctx)
	var shown map[string]string // address → reason, of the refusals in status
	return func(addr netip.Addr) (string, string) {
		reason, message, detail := decide(addr)
		if reason == "" {
			return "", ""
		}
		if shown == nil {
			shown = make(map[string]string, len(md.Status.Endpoints))
			for _, es := range md.Status.Endpoints {
				if !es.Published {
					shown[es.Address] = es.Reason
				}
			}
		}
		v := 2
		if shown[addr.String()] == reason {
			v = 4
		}
		logger.V(v).Info("Address refused", "address", addr, "reason", reason, "detail", detail)
		return reason, message
	}
}
