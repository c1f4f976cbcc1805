package controller

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/probe"
)

// errRetryLater asks the worker to retry the key with backoff without
// reporting an error: a child that is being replaced or garbage collected.
// Its cause is already in the Mydemo's status.
var errRetryLater = errors.New("retry later")

// errWatched says the key waits for a watch (a foreign object's change)
// rather than for a retry: no backoff, no error.
var errWatched = errors.New("waiting for a watched object to change")

// firstVerdictWait bounds how long a new endpoint's EndpointSlice entry
// waits for its first probe verdict, so that a new Mydemo costs one slice
// create instead of a create and an update. It is also bounded by the
// probe timeout: a verdict never takes longer than that.
const firstVerdictWait = 3 * time.Second

// lastingAfter is how many failed syncs in a row make a transient write
// error (throttling, a timeout, a 5xx) worth reporting in status.
const lastingAfter = 5

// syncMydemo makes the world match one Mydemo: resolves and probes its
// endpoints (through the resolver and prober, which never block it), creates
// or updates its Service and EndpointSlices, and writes its status, each only
// when something differs from the informer caches.
func (c *Controller) syncMydemo(ctx context.Context, key cache.ObjectName) error {
	logger := klog.LoggerWithValues(klog.FromContext(ctx), "mydemo", key)
	ctx = klog.NewContext(ctx, logger)

	cached, err := c.mydemoLister.Mydemos(key.Namespace).Get(key.Name)
	if apierrors.IsNotFound(err) {
		// The Service and EndpointSlices are owned by the Mydemo and go by
		// garbage collection; only our own state is ours to drop.
		c.forget(key)
		logger.V(4).Info("Mydemo is gone")
		return nil
	}
	if err != nil {
		return err
	}
	// Our last status write, if the cache has not delivered it yet.
	md, _ := freshest(c.recent, kindMydemo, key.Namespace, key.Name, cached, true)
	if md.DeletionTimestamp != nil {
		return c.syncDeleting(ctx, key, md)
	}

	answers := c.resolver.Sync(key, specHostnames(md), resolvePeriod(md))
	spec, err := parseSpec(md, answers, c.addressCheck(ctx, md))
	if err != nil {
		c.prober.Forget(key)
		msg := fmt.Sprintf(msgInvalidSpec, err)
		return c.updateStatus(ctx, md, observation{invalid: msg, pub: publication{reason: reasonInvalidSpec, message: msg}})
	}
	if svc, found, err := c.cachedService(md.Namespace, md.Name); err == nil && found && isControlledBy(svc, md) {
		// Families the cluster is known not to serve are refused before
		// probing; publish learns the rest from the Service it writes.
		refuseUnservedFamilies(&spec, nil, servedFamilies(svc))
	}
	obs := c.observe(key, md, spec)
	if spec.awaitingDNS() && len(spec.published()) == 0 {
		// The resolver enqueues the key with its first answer; a status
		// saying "waiting" now would be rewritten a moment later.
		if !meta.IsStatusConditionTrue(md.Status.Conditions, crddemov1.ConditionPublished) {
			c.queue.AddAfter(key, firstVerdictWait)
			return nil
		}
	}

	wait := c.firstVerdictPending(md, obs)
	pub, pubErr := c.publish(ctx, md, &spec, &obs, wait > 0)
	obs.pub = pub
	if wait > 0 && pubErr == nil && !pub.published {
		// The prober enqueues the key with the first verdict; until then
		// there is nothing worth a status write.
		c.queue.AddAfter(key, wait)
		return nil
	}
	if isTransient(pubErr) {
		// A conflict, throttling or a timeout says nothing new about the
		// Mydemo: keep its status (a published Mydemo stays Published) and
		// retry, unless it keeps failing.
		published := meta.IsStatusConditionTrue(md.Status.Conditions, crddemov1.ConditionPublished)
		if apierrors.IsConflict(pubErr) || (published && c.queue.NumRequeues(key) < lastingAfter) {
			return pubErr
		}
		obs.pub.reason = ReasonWriteFailed
		obs.pub.message = fmt.Sprintf("%s: %s", pub.message, apiMessage(pubErr))
	}
	if pubErr == nil && c.statusDeferrals.deferred(key, pub.trafficMoved, c.queue.Len()) {
		// Other Mydemos wait for their slices: theirs move traffic,
		// this status only reports it. releaseStatuses queues the key
		// again once they are done.
		return nil
	}
	if err := c.updateStatus(ctx, md, obs); err != nil {
		return err
	}
	if errors.Is(pubErr, errWatched) {
		return nil
	}
	return pubErr
}

// forget drops every piece of state the controller keeps for key.
func (c *Controller) forget(key cache.ObjectName) {
	c.prober.Forget(key)
	c.resolver.Forget(key)
	c.watches.stop(key)
	c.recent.forgetOwner(key)
	c.statusDeferrals.forget(key)
	c.wording.forget(key)
}

// isTransient reports whether err is a failure to retry quietly rather
// than an outcome that the status already describes.
func isTransient(err error) bool {
	return err != nil && !errors.Is(err, errRetryLater) && !errors.Is(err, errWatched) && !errors.Is(err, errReported)
}

// errReported wraps a lasting error whose message is already in status; it
// is retried with backoff.
var errReported = errors.New("reported in status")

// observe asks the prober for the verdict on every published endpoint, in
// one call that also schedules new endpoints and seeds them after a restart.
func (c *Controller) observe(key cache.ObjectName, md *crddemov1.Mydemo, spec parsedSpec) observation {
	obs := observation{probeOff: spec.probeOff, hostnames: spec.hostnames, answers: hostAnswers(spec)}
	obs.endpoints = make([]endpointView, len(spec.endpoints))
	var targets []probe.Target
	var idx []int
	// One template for every endpoint: its spec (which may carry a CA
	// bundle of tens of KiB) is built once per sync and shared, never
	// copied per endpoint.
	var template probe.Target
	var seeds recordedVerdicts
	if spec.probePort != nil {
		template = appProbeTarget(md.Spec.Probe, "")
		seeds = recordedVerdictsOf(md, c.ownedSlices(md), len(spec.endpoints) == 1)
	}
	for i, e := range spec.endpoints {
		obs.endpoints[i] = endpointView{endpoint: e}
		if spec.probePort == nil || e.refused != "" {
			continue
		}
		obs.endpoints[i].probed = true
		obs.endpoints[i].port = spec.probePort.port
		t := template
		t.Address = netJoin(e.addr, spec.probePort.port)
		t.Seed = seeds.seed(e.addr)
		targets = append(targets, t)
		idx = append(idx, i)
	}
	if len(targets) == 0 {
		c.prober.Forget(key)
	} else {
		for j, s := range c.prober.Sync(key, targets) {
			obs.endpoints[idx[j]].state = s
		}
	}
	if len(targets) > 0 && md.Spec.Probe != nil && md.Spec.Probe.FailOpen {
		obs.failOpen = true
		for _, v := range obs.endpoints {
			if v.probed && v.state.Reachability != probe.Unreachable {
				obs.failOpen = false
			}
		}
	}
	return obs
}

// hostAnswers turns the resolver's answers into what status reports.
func hostAnswers(spec parsedSpec) map[string]hostAnswer {
	out := make(map[string]hostAnswer, len(spec.hostnames))
	for _, h := range spec.hostnames {
		a := spec.answers[h]
		ha := hostAnswer{addresses: len(a.Addrs) + a.Omitted, resolved: a.Resolved}
		switch {
		case !a.KeptUntil.IsZero():
			ha.message = fmt.Sprintf("lookup failed: %s; keeping the last answer until %s", a.Err, a.KeptUntil.UTC().Format(time.RFC3339))
		case a.Err != "":
			ha.message = "lookup failed: " + a.Err
		case !a.Resolved:
			ha.message = fmt.Sprintf(msgAwaitingDNS, h)
		case spec.truncated[h] > 0:
			ha.message = fmt.Sprintf(msgAnswerTruncated, spec.truncated[h], maxEndpoints)
		}
		out[h] = ha
	}
	return out
}

// firstVerdictPending returns how long to wait for the first verdict of an
// endpoint the prober has just started on, or 0.
func (c *Controller) firstVerdictPending(md *crddemov1.Mydemo, obs observation) time.Duration {
	limit := firstVerdictWait
	if p := md.Spec.Probe; p != nil && p.TimeoutSeconds > 0 {
		limit = min(limit, time.Duration(p.TimeoutSeconds)*time.Second)
	} else {
		limit = min(limit, time.Second)
	}
	now := c.clock.Now()
	var wait time.Duration
	for _, v := range obs.endpoints {
		if v.probed && v.state.Reachability == probe.Unknown {
			if left := v.state.Since.Add(limit).Sub(now); left > wait {
				wait = left
			}
		}
	}
	return wait
}

// errForeignObject says that an object with the name we need exists and is
// not controlled by the Mydemo. We never modify or adopt it.
var errForeignObject = errors.New("object exists and is not controlled by this Mydemo")

// errOldChild says that the object with the name we need belongs to an
// earlier Mydemo of the same name, deleted and waiting for garbage
// collection.
var errOldChild = errors.New("object belongs to a deleted Mydemo of the same name")

// publish makes md's Service and EndpointSlices match the spec and the
// verdicts. It returns the Published condition's inputs and an error to
// retry with. With holdSlices, a new endpoint waits for its first verdict:
// the Service is made or updated but no slice is written yet.
//
// The Service the API server accepted says which IP families the cluster
// serves: publish refuses, in spec and obs, the endpoints of any other.
func (c *Controller) publish(ctx context.Context, md *crddemov1.Mydemo, spec *parsedSpec, obs *observation, holdSlices bool) (publication, error) {
	key := cache.ObjectName{Namespace: md.Namespace, Name: md.Name}
	svcName := key.String()
	pub := publication{reason: reasonPublishing, message: fmt.Sprintf(msgPublishing, svcName)}

	svc, err := c.syncService(ctx, md, *spec)
	switch {
	case errors.Is(err, errForeignObject):
		pub.reason, pub.message = ReasonServiceConflict, fmt.Sprintf(msgServiceConflict, svcName)
		// Our slices carry the Service's name: they must not feed a
		// Service we do not control.
		if err := c.deleteOwnedSlices(ctx, md); err != nil {
			return pub, err
		}
		return pub, c.conflictRetry(key, kindService, md.Name)
	case errors.Is(err, errOldChild):
		pub.reason, pub.message = ReasonWaitingForOldChildren, fmt.Sprintf(msgWaitingForOldChildren, "Service", svcName)
		return pub, errRetryLater
	case apierrors.IsInvalid(err) || apierrors.IsForbidden(err):
		reason, msg := ReasonServiceRejected, fmt.Sprintf(msgServiceRejected, svcName, apiMessage(err))
		if apierrors.IsForbidden(err) {
			reason, msg = ReasonWriteFailed, fmt.Sprintf(msgWriteFailed, "Service", svcName, apiMessage(err))
		}
		pub.reason, pub.message = reason, msg
		// Whatever Service may exist under this name is not the one
		// the spec describes: no slice of ours may feed it.
		if delErr := c.deleteOwnedSlices(ctx, md); delErr != nil {
			return pub, delErr
		}
		// Retrying will not help until the spec or the cluster changes,
		// but neither is observable from here: back off and try again.
		return pub, fmt.Errorf("%w: %w", errReported, err)
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		// The namespace, and the Mydemo with it, is going away.
		return pub, nil
	case err != nil:
		return pub, err
	case svc == nil:
		// The old Service is being replaced (its primary family changed).
		return pub, errRetryLater
	}
	refuseUnservedFamilies(spec, obs, svc.Spec.IPFamilies)
	pub.serviceOurs = true
	pub.serviceName = md.Name
	pub.clusterIP = svc.Spec.ClusterIP
	pub.clusterIPs = svc.Spec.ClusterIPs
	if holdSlices {
		// Writing the slices now would mean writing them again when the
		// verdict comes, a moment later.
		return pub, nil
	}

	sliceName, err := c.syncEndpointSlices(ctx, md, *spec, *obs, &pub.trafficMoved)
	sliceKey := cache.ObjectName{Namespace: md.Namespace, Name: sliceName}.String()
	switch {
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return pub, nil
	case errors.Is(err, errForeignObject):
		pub.reason, pub.message = ReasonEndpointSliceConflict, fmt.Sprintf(msgEndpointSliceConflict, sliceKey)
		return pub, c.conflictRetry(key, kindEndpointSlice, sliceName)
	case errors.Is(err, errOldChild):
		pub.reason, pub.message = ReasonWaitingForOldChildren, fmt.Sprintf(msgWaitingForOldChildren, "EndpointSlice", sliceKey)
		return pub, errRetryLater
	case apierrors.IsInvalid(err) || apierrors.IsForbidden(err):
		pub.reason, pub.message = ReasonWriteFailed, fmt.Sprintf(msgWriteFailed, "EndpointSlice", sliceKey, apiMessage(err))
		return pub, fmt.Errorf("%w: %w", errReported, err)
	case err != nil:
		pub.message = fmt.Sprintf(msgWriteFailed, "EndpointSlice", sliceKey, "")
		return pub, err
	}
	c.watches.stop(key)
	pub.published = true
	pub.reason = ReasonPublished
	pub.message = fmt.Sprintf(msgPublished, svcName, svc.Spec.ClusterIP, len(spec.published()))
	return pub, nil
}

// conflictRetry is how a conflict with kind/name waits: for the watch on
// that object if one runs, with backoff otherwise.
func (c *Controller) conflictRetry(key cache.ObjectName, kind, name string) error {
	if c.watches.watching(key, kind, name) {
		return errWatched
	}
	return errRetryLater
}

// judgeOwner tells how obj, found under a name md needs, relates to md.
func judgeOwner(obj metav1.Object, md *crddemov1.Mydemo) error {
	if isControlledBy(obj, md) {
		return nil
	}
	if owner, ok := controllingMydemo(obj); ok && owner.Name == md.Name {
		if ref := metav1.GetControllerOfNoCopy(obj); ref != nil && ref.UID != md.UID {
			return errOldChild
		}
	}
	return errForeignObject
}

// syncService creates or updates md's Service. It returns nil, nil while an
// old Service with the wrong primary family is being replaced.
func (c *Controller) syncService(ctx context.Context, md *crddemov1.Mydemo, spec parsedSpec) (*corev1.Service, error) {
	key := cache.ObjectName{Namespace: md.Namespace, Name: md.Name}
	existing, found, err := c.cachedService(md.Namespace, md.Name)
	if err != nil {
		return nil, err
	}
	if !found {
		if c.watches.watching(key, kindService, md.Name) {
			// A foreign Service holds the name and a watch tells us
			// when that changes: no request until then.
			return nil, errForeignObject
		}
		fams := serviceFamilies(spec.familyCandidates(), nil)
		var created bool
		existing, created, err = c.createService(ctx, key, "", newService(md, spec, fams))
		if isUnservedFamily(err) && len(fams) == 2 {
			// The family of the first endpoint is one the cluster does
			// not serve; the other one may be.
			existing, created, err = c.createService(ctx, key, "", newService(md, spec, []corev1.IPFamily{fams[1], fams[0]}))
		}
		if created || err != nil {
			return existing, err
		}
	}
	if err := judgeOwner(existing, md); err != nil {
		if errors.Is(err, errForeignObject) {
			c.watches.start(key, kindService, md.Namespace, md.Name, existing.GetResourceVersion())
		}
		return nil, err
	}
	fams := serviceFamilies(spec.familyCandidates(), existing)
	if len(existing.Spec.IPFamilies) > 0 && existing.Spec.IPFamilies[0] != fams[0] && servedFamilies(existing) == nil {
		// No endpoint of the Service's family is left (a name that
		// answered A now answers AAAA only, say), and whether the
		// cluster serves the other family is unknown: ask before
		// replacing anything. The Service goes PreferDualStack in its
		// own family, and the API server adds the other where it can.
		if ask := updatedService(existing, newService(md, spec, []corev1.IPFamily{existing.Spec.IPFamilies[0], fams[0]})); ask != nil {
			asked, err := c.updateService(ctx, key, ask)
			if err != nil {
				return nil, err
			}
			existing = asked
		}
	}
	if served := servedFamilies(existing); served != nil && !slices.Contains(served, fams[0]) {
		// No endpoint of the Service's family is left, and the cluster
		// does not serve the family of the others: they are refused,
		// and the Service stays as it is (with its cluster IP) rather
		// than being replaced by one the API server would reject.
		return existing, nil
	}
	desired := newService(md, spec, fams)
	if len(existing.Spec.IPFamilies) > 0 && existing.Spec.IPFamilies[0] != desired.Spec.IPFamilies[0] {
		// The primary IP family of a Service cannot change in place,
		// and the cluster serves the new one: replace the Service, in
		// this sync, so the name is not left empty.
		if err := c.deleteService(ctx, existing); err != nil {
			return nil, err
		}
		created, _, err := c.createService(ctx, key, existing.ResourceVersion, desired)
		return created, err
	}
	if updated := updatedService(existing, desired); updated != nil {
		return c.updateService(ctx, key, updated)
	}
	return existing, nil
}

// cachedService is the Service from the cache, or our own newer write.
func (c *Controller) cachedService(namespace, name string) (*corev1.Service, bool, error) {
	svc, err := c.serviceLister.Services(namespace).Get(name)
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, false, err
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

// deleteOwnedSlices deletes every EndpointSlice md controls.
func (c *Controller) deleteOwnedSlices(ctx context.Context, md *crddemov1.Mydemo) error {
	for _, s := range c.ownedSlices(md) {
		if err := c.deleteEndpointSlice(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// syncEndpointSlices writes the slices planSlices asks for, and sets moved
// if it wrote slices of a Mydemo already published. It returns the name of the
// slice a failure concerns.
func (c *Controller) syncEndpointSlices(ctx context.Context, md *crddemov1.Mydemo, spec parsedSpec, obs observation, moved *bool) (string, error) {
	key := cache.ObjectName{Namespace: md.Namespace, Name: md.Name}
	want := make([]sliceEndpoint, 0, len(obs.endpoints))
	for _, v := range obs.endpoints {
		if v.refused == "" {
			want = append(want, sliceEndpoint{addr: v.addr.String(), zone: v.zone, ready: v.ready(obs.failOpen)})
		}
	}
	plan := planSlices(md, want, spec.ports, c.ownedSlices(md))
	// Judged by the status, not by the slices in the cache: a published
	// Mydemo whose slices are gone (every endpoint refused, then allowed
	// again) moves traffic when they come back, and a first publication
	// that failed half-way has moved none yet.
	*moved = meta.IsStatusConditionTrue(md.Status.Conditions, crddemov1.ConditionPublished) &&
		len(plan.create)+len(plan.update)+len(plan.delete) > 0
	for _, s := range plan.create {
		live, created, err := c.createEndpointSlice(ctx, key, s)
		if err != nil {
			return s.Name, err
		}
		if !created {
			if err := judgeOwner(live, md); err != nil {
				if errors.Is(err, errForeignObject) {
					c.watches.start(key, kindEndpointSlice, md.Namespace, s.Name, live.ResourceVersion)
				}
				return s.Name, err
			}
			// Ours, but not in the cache yet: update it to what we want.
			if updated := updatedEndpointSlice(live, s); updated != nil {
				if err := c.updateEndpointSlice(ctx, key, updated); err != nil {
					return s.Name, err
				}
			}
		}
	}
	for _, s := range plan.update {
		if err := c.updateEndpointSlice(ctx, key, s); err != nil {
			return s.Name, err
		}
	}
	for _, s := range plan.delete {
		if err := c.deleteEndpointSlice(ctx, s); err != nil {
			return s.Name, err
		}
	}
	return "", nil
}

// syncDeleting handles a Mydemo that is being deleted but still exists (a
// foreground deletion, or a finalizer of someone else's): its endpoints are
// marked terminating at once, so traffic stops before the objects go.
func (c *Controller) syncDeleting(ctx context.Context, key cache.ObjectName, md *crddemov1.Mydemo) error {
	c.prober.Forget(key)
	c.resolver.Forget(key)
	c.watches.stop(key)
	for _, s := range c.ownedSlices(md) {
		out := s.DeepCopy()
		changed := false
		for i := range out.Endpoints {
			cond := &out.Endpoints[i].Conditions
			if cond.Terminating == nil || !*cond.Terminating || cond.Ready == nil || *cond.Ready {
				cond.Ready, cond.Terminating = ptr.To(false), ptr.To(true)
				changed = true
			}
		}
		if !changed {
			continue
		}
		if err := c.updateEndpointSlice(ctx, key, out); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// updateStatus writes md's status when it differs from what is stored, and
// emits the Events its transitions deserve once the write succeeded.
func (c *Controller) updateStatus(ctx context.Context, md *crddemov1.Mydemo, obs observation) error {
	// The status is decided now, by whichever path: nothing of it waits
	// any longer (a leftover release would cancel the next deferral).
	key := cache.MetaObjectToName(md)
	c.statusDeferrals.forget(key)
	status := computeStatus(md, obs, c.clock.Now())
	if statusEqual(md.Status, status) {
		return nil
	}
	if onlyWordingDiffers(md.Status, status) {
		if wait := c.wording.wait(key); wait > 0 {
			// See wording.go: the wording waits its turn.
			c.queue.AddAfter(key, wait)
			return nil
		}
	}
	updated := md.DeepCopy()
	updated.Status = status
	if err := c.writeStatus(ctx, updated); err != nil {
		return err
	}
	c.wording.wrote(key)
	for _, ev := range transitions(md.Status, status) {
		c.recorder.Event(md, ev.eventType, ev.reason, ev.message)
	}
	return nil
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
