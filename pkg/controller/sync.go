package controller

import (
	"context"
	"fmt"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
)

// firstVerdictWait bounds how long a new endpoint's EndpointSlice entry
// waits for its first probe verdict, so that a new Mydemo costs one slice
// create instead of a create and an update. It is also bounded by the
// probe timeout: a verdict never takes longer than that.
const firstVerdictWait = 3 * time.Second

// lastingAfter is how many failed syncs in a row make a transient write
// error (throttling, a timeout, a 5xx) worth reporting in status.
const lastingAfter = 5

// queueState is what the worker tells a sync about the queue. The sync only
// reads it; acting on the queue is the worker's (handleResult).
type queueState struct {
	// failures is how many syncs of the key in a row asked for a retry.
	failures int
	// waiting counts the other keys queued, read when a status write is
	// decided (deferrals.go).
	waiting func() int
}

// syncResult is what a sync asks of the queue. The zero value: done, until
// something changes.
type syncResult struct {
	// retry: sync the key again with its backoff.
	retry bool
	// err is the failure behind a retry: nil for a wait the status already
	// explains (a foreign or old object), a conflict for a stale cache,
	// anything else an error worth logging.
	err error
	// requeueAfter, when positive, syncs the key again after it: waiting
	// for a first verdict or DNS answer, or for the wording pace.
	requeueAfter time.Duration
	// waitWatch: a foreign object blocks the Mydemo, and a watch on it
	// queues the key when it changes; no retry is needed.
	waitWatch bool
}

// next is what the queue should do once the publication stopped at a, the
// first write that did not go as planned (an ok a: nothing). The status
// says why in each case (publicationOf).
func (a applied) next() syncResult {
	switch a.outcome {
	case foreign:
		if a.watched {
			return syncResult{waitWatch: true}
		}
		return syncResult{retry: true}
	case oldChild:
		// Garbage collection removes it soon.
		return syncResult{retry: true}
	case rejected, transient:
		return syncResult{retry: true, err: a.err}
	}
	return syncResult{}
}

// syncMydemo makes the world match one Mydemo: it observes (observe.go),
// plans (plan*.go) and applies (apply.go) its Service, EndpointSlices and
// status, each written only when it differs from what is observed. It
// never touches the queue: it returns what the queue should do, and the
// worker does it.
func (c *Controller) syncMydemo(ctx context.Context, key cache.ObjectName, q queueState) syncResult {
	logger := klog.LoggerWithValues(klog.FromContext(ctx), "mydemo", key)
	ctx = klog.NewContext(ctx, logger)

	obs, err := c.observe(ctx, key)
	if err != nil {
		return syncResult{retry: true, err: err}
	}
	switch {
	case obs.gone():
		// The Service and EndpointSlices are owned by the Mydemo and go by
		// garbage collection; only our own state is ours to drop.
		c.forget(key)
		logger.V(4).Info("Mydemo is gone")
		return syncResult{}
	case obs.deleting():
		return c.syncDeleting(ctx, &obs)
	case obs.specErr != nil:
		msg := fmt.Sprintf(msgInvalidSpec, obs.specErr)
		return c.settleStatus(ctx, obs.md, statusInput{invalid: msg, pub: publication{reason: reasonInvalidSpec, message: msg}})
	case awaitingFirstAnswer(obs.md, obs.spec):
		return syncResult{requeueAfter: firstVerdictWait}
	}
	md := obs.md

	wait := firstVerdictPending(md, obs.view, c.clock.Now())
	p := c.publish(ctx, &obs, wait > 0)
	// A terminating namespace stops the publication without an error:
	// the Mydemo is going away with it.
	quiet := p.stop.ok() || p.stop.outcome == namespaceTerminating
	if wait > 0 && quiet && !p.pub.published {
		// The prober enqueues the key with the first verdict; until then
		// there is nothing worth a status write.
		return syncResult{requeueAfter: wait}
	}
	in := p.view
	in.pub = p.pub
	if p.stop.outcome == transient {
		// A conflict, throttling or a timeout says nothing new about the
		// Mydemo: keep its status (a published Mydemo stays Published) and
		// retry, unless it keeps failing.
		published := meta.IsStatusConditionTrue(md.Status.Conditions, crddemov1.ConditionPublished)
		if apierrors.IsConflict(p.stop.err) || (published && q.failures < lastingAfter) {
			return syncResult{retry: true, err: p.stop.err}
		}
		in.pub.reason = ReasonWriteFailed
		in.pub.message = fmt.Sprintf("%s: %s", p.pub.message, apiMessage(p.stop.err))
	}
	if quiet && c.statusDeferrals.deferred(key, p.pub.trafficMoved, q.waiting()) {
		// Other Mydemos wait for their slices: theirs move traffic,
		// this status only reports it. releaseStatuses queues the key
		// again once they are done.
		return syncResult{}
	}
	settled := c.settleStatus(ctx, md, in)
	if settled.retry {
		return settled
	}
	next := p.stop.next()
	if p.stop.ok() {
		next = p.roleStop.next()
	}
	next.requeueAfter = settled.requeueAfter
	return next
}

// publishing is what the publication's writes came to.
type publishing struct {
	pub publication
	// spec and view are the observation's, with the endpoints of families
	// the applied Service does not serve refused.
	spec parsedSpec
	view statusInput
	// stop is the first write of the Mydemo's own Service and slices
	// that did not go as planned; ok when none.
	stop applied
	// roleStop is the first write of the roles' Services and slices that
	// did not go as planned, once stop is ok; the zero value when none.
	roleStop applied
}

// publish makes md's Service and then its EndpointSlices match the spec
// and the verdicts. With holdSlices, a new endpoint waits for its first
// verdict: the Service is made or updated but no slice is written yet,
// since writing them now would mean writing them again when the verdict
// comes, a moment later.
//
// The Service the API server accepted says which IP families the cluster
// serves: the slices and the status are planned from it (plan.go).
func (c *Controller) publish(ctx context.Context, obs *observation, holdSlices bool) publishing {
	md := obs.md
	svcKey := obs.key.String()
	p := publishing{
		pub:  publication{reason: reasonPublishing, message: fmt.Sprintf(msgPublishing, svcKey)},
		spec: obs.spec,
		view: obs.view,
	}

	svc, res := c.applyService(ctx, obs, mainService(md), obs.spec)
	if !res.ok() {
		p.stop = res
		p.pub.reason, p.pub.message = publicationOf(res, md.Namespace, md.Name)
		remaining := obs.slices
		if res.outcome == foreign || res.outcome == rejected {
			remaining = nil
			// Whatever Service holds the name is not the one the spec
			// describes (our slices carry its name): no slice of ours
			// may feed it. The roles' slices go too: a role publishes
			// a subset of the Mydemo's ready endpoints, and there is
			// none.
			for _, owned := range obs.slices {
				if del := c.deleteSlices(ctx, owned); !del.ok() {
					p.stop = applied{outcome: transient, kind: del.kind, name: del.name, err: del.err}
					break
				}
			}
		}
		p.view.roleResults = unpublishedRoles(p.view, remaining, p.pub.message)
		return p
	}
	p.spec, p.view = withServedFamilies(obs.spec, obs.view, svc.Spec.IPFamilies)
	p.pub.serviceOurs = true
	p.pub.serviceName = md.Name
	p.pub.clusterIP = svc.Spec.ClusterIP
	p.pub.clusterIPs = svc.Spec.ClusterIPs
	if holdSlices {
		return p
	}

	plan, moved := planEndpointSlices(md, p.spec, p.view, obs.slices[md.Name])
	p.pub.trafficMoved = moved
	if res := c.applySlices(ctx, md, plan); !res.ok() {
		p.stop = res
		p.pub.reason, p.pub.message = publicationOf(res, md.Namespace, md.Name)
		p.view.roleResults = unpublishedRoles(p.view, obs.slices, p.pub.message)
		return p
	}
	roleStop, roleMoved := c.publishRoles(ctx, obs, &p)
	p.pub.trafficMoved = p.pub.trafficMoved || (roleMoved && meta.IsStatusConditionTrue(md.Status.Conditions, crddemov1.ConditionPublished))
	if !roleStop.ok() {
		// The Mydemo's own Service is published; the role that is not
		// says why in its status, and the queue retries or waits for
		// its watch.
		p.roleStop = roleStop
	} else {
		c.watches.stop(obs.key)
	}
	p.pub.published = true
	p.pub.reason = ReasonPublished
	p.pub.message = fmt.Sprintf(msgPublished, svcKey, svc.Spec.ClusterIP, len(p.spec.published()))
	return p
}

// settleStatus plans md's status from in and writes it when it differs
// (unless the wording pace holds it back).
func (c *Controller) settleStatus(ctx context.Context, md *crddemov1.Mydemo, in statusInput) syncResult {
	// The status is decided now, by whichever path: nothing of it waits
	// any longer (a leftover release would cancel the next deferral).
	key := cache.MetaObjectToName(md)
	c.statusDeferrals.forget(key)
	in.certWarning = c.certWarning
	p := planStatus(md, in, c.clock.Now(), c.wording.wait(key))
	if p.holdFor > 0 {
		// See wording.go: the wording waits its turn (and the sync
		// then reschedules any certificate recheck).
		return syncResult{requeueAfter: p.holdFor}
	}
	if res := c.applyStatus(ctx, md, p); !res.ok() {
		return syncResult{retry: true, err: res.err}
	}
	// A certificate nearing its expiry changes nothing a watch or the
	// prober would see: the key is synced again when it crosses the
	// threshold (certificates.go).
	return syncResult{requeueAfter: p.recheckAfter}
}

// syncDeleting handles a Mydemo that is being deleted but still exists (a
// foreground deletion, or a finalizer of someone else's): its endpoints are
// marked terminating at once, so traffic stops before the objects go.
func (c *Controller) syncDeleting(ctx context.Context, obs *observation) syncResult {
	c.prober.Forget(obs.key)
	c.resolver.Forget(obs.key)
	c.watches.stop(obs.key)
	var owned []*discoveryv1.EndpointSlice
	for _, s := range obs.slices {
		owned = append(owned, s...)
	}
	if res := c.applyTerminating(ctx, obs.key, terminatingSlices(owned)); !res.ok() {
		return syncResult{retry: true, err: res.err}
	}
	return syncResult{}
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
