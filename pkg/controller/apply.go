package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
)

// The apply step: the only code that writes (through update.go), each write
// judged into a typed result. What a result means for the status is in
// reasons.go (publicationOf); what it means for the queue, in sync.go.

// outcome is what became of the write of one object.
type outcome int

const (
	// unchanged: the object already matched; nothing was sent.
	unchanged outcome = iota
	// written: created, updated or deleted.
	written
	// foreign: an object of the name exists and is not controlled by the
	// Mydemo. It is never modified or adopted.
	foreign
	// oldChild: the object of the name belongs to an earlier Mydemo of the
	// same name, deleted and waiting for garbage collection.
	oldChild
	// rejected: the API server refused the write as invalid or
	// forbidden. Retrying will not help until the spec or the cluster
	// changes, and neither is observable from here.
	rejected
	// namespaceTerminating: the namespace, and the Mydemo with it, is
	// going away.
	namespaceTerminating
	// transient: any other failure (a conflict, throttling, a timeout, a
	// 5xx): it says nothing about the Mydemo; retry.
	transient
)

// applied is the result of one object's write.
type applied struct {
	outcome outcome
	// kind and name of the object, in the Mydemo's namespace.
	kind, name string
	// err is the API server's answer, for rejected,
	// namespaceTerminating and transient.
	err error
	// watched: for foreign, a watch on the object runs and queues the key
	// when it changes (watches.go).
	watched bool
}

// ok reports whether the object is as planned.
func (a applied) ok() bool { return a.outcome == written || a.outcome == unchanged }

// failed is the result of a write the API server answered with err. A
// terminating namespace is answered with Forbidden: for the Service that
// counts as rejected, for the other objects as the namespace going away.
// (That is how the checks were ordered before the apply step had results;
// kept so the refactor changes no behaviour.)
func failed(kind, name string, err error) applied {
	a := applied{kind: kind, name: name, err: err, outcome: transient}
	refused := apierrors.IsInvalid(err) || apierrors.IsForbidden(err)
	switch {
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) && !(kind == kindService && refused):
		a.outcome = namespaceTerminating
	case refused:
		a.outcome = rejected
	}
	return a
}

// judgeOwner tells how obj, found under a name md needs, relates to md:
// unchanged (ours), oldChild or foreign.
func judgeOwner(obj metav1.Object, md *crddemov1.Mydemo) outcome {
	if isControlledBy(obj, md) {
		return unchanged
	}
	if owner, ok := controllingMydemo(obj); ok && owner.Name == md.Name {
		if ref := metav1.GetControllerOfNoCopy(obj); ref != nil && ref.UID != md.UID {
			return oldChild
		}
	}
	return foreign
}

// foreignFound is the result for obj, found under a name md needs and not
// ours: a foreign object gets a watch, so the key waits for its change
// instead of retrying.
func (c *Controller) foreignFound(key cache.ObjectName, kind string, obj metav1.Object, judged outcome) applied {
	a := applied{outcome: judged, kind: kind, name: obj.GetName()}
	if judged == foreign {
		c.watches.start(key, kind, obj.GetNamespace(), obj.GetName(), obj.GetResourceVersion())
		a.watched = c.watches.watching(key, kind, obj.GetName())
	}
	return a
}

// applyService makes md's Service ref match spec, in the steps
// plan_service.go plans, and returns the Service the API server holds
// (nil unless the result is ok).
func (c *Controller) applyService(ctx context.Context, obs *observation, ref serviceRef, spec parsedSpec) (*corev1.Service, applied) {
	md, key := obs.md, obs.key
	res := applied{outcome: unchanged, kind: kindService, name: ref.name}
	existing := obs.services[ref.name]
	if existing == nil {
		if obs.watching[ref.name] {
			// A foreign Service holds the name and a watch tells us
			// when that changes: no request until then.
			res.outcome, res.watched = foreign, true
			return nil, res
		}
		first, second := planNewService(md, ref, spec)
		live, created, err := c.createService(ctx, key, "", first)
		if isUnservedFamily(err) && second != nil {
			live, created, err = c.createService(ctx, key, "", second)
		}
		if err != nil {
			return nil, failed(kindService, ref.name, err)
		}
		if created {
			res.outcome = written
			return live, res
		}
		existing = live
	}
	if judged := judgeOwner(existing, md); judged != unchanged {
		return nil, c.foreignFound(key, kindService, existing, judged)
	}

	fams := planServiceFamilies(spec, existing)
	if ask := planFamilyQuestion(md, ref, spec, existing, fams); ask != nil {
		asked, err := c.updateService(ctx, key, ask)
		if err != nil {
			return nil, failed(kindService, ref.name, err)
		}
		existing, res.outcome = asked, written
	}
	change := planServiceChange(md, ref, spec, existing, fams)
	switch {
	case change.replace != nil:
		if err := c.deleteService(ctx, existing); err != nil {
			return nil, failed(kindService, ref.name, err)
		}
		live, created, err := c.createService(ctx, key, existing.ResourceVersion, change.replace)
		if isUnservedFamily(err) && change.replaceSecond != nil {
			live, created, err = c.createService(ctx, key, existing.ResourceVersion, change.replaceSecond)
		}
		if err != nil {
			return nil, failed(kindService, ref.name, err)
		}
		if !created {
			// The name was taken between the delete and the create:
			// by someone else's Service, which is judged as any
			// other, or by ours, still there because a finalizer
			// holds it; either way it is not the replacement.
			if judged := judgeOwner(live, md); judged != unchanged {
				return nil, c.foreignFound(key, kindService, live, judged)
			}
			return nil, applied{outcome: transient, kind: kindService, name: ref.name, err: fmt.Errorf(msgReplacedServiceRemains, md.Namespace, ref.name)}
		}
		existing, res.outcome = live, written
	case change.update != nil:
		updated, err := c.updateService(ctx, key, change.update)
		if err != nil {
			return nil, failed(kindService, ref.name, err)
		}
		existing, res.outcome = updated, written
	}
	return existing, res
}

// applySlices sends plan's slice writes, in order, and stops at the first
// that fails. It returns the result of that write, or an ok result.
func (c *Controller) applySlices(ctx context.Context, md *crddemov1.Mydemo, plan slicePlan) applied {
	key := cache.ObjectName{Namespace: md.Namespace, Name: md.Name}
	creates := func() (applied, bool) {
		for _, s := range plan.create {
			live, created, err := c.createEndpointSlice(ctx, key, s)
			if err != nil {
				return failed(kindEndpointSlice, s.Name, err), false
			}
			if created {
				continue
			}
			if judged := judgeOwner(live, md); judged != unchanged {
				return c.foreignFound(key, kindEndpointSlice, live, judged), false
			}
			// Ours, but not in the cache yet: update it to what we want.
			if updated := updatedEndpointSlice(live, s); updated != nil {
				if err := c.updateEndpointSlice(ctx, key, updated); err != nil {
					return failed(kindEndpointSlice, s.Name, err), false
				}
			}
		}
		return applied{}, true
	}
	updates := func() (applied, bool) {
		for _, s := range plan.update {
			if err := c.updateEndpointSlice(ctx, key, s); err != nil {
				return failed(kindEndpointSlice, s.Name, err), false
			}
		}
		return applied{}, true
	}
	deletes := func() (applied, bool) {
		for _, s := range plan.delete {
			if err := c.deleteEndpointSlice(ctx, s); err != nil {
				return failed(kindEndpointSlice, s.Name, err), false
			}
		}
		return applied{}, true
	}
	steps := []func() (applied, bool){creates, updates, deletes}
	if plan.removeFirst {
		steps = []func() (applied, bool){deletes, updates, creates}
	}
	for _, step := range steps {
		if res, ok := step(); !ok {
			return res
		}
	}
	if plan.empty() {
		return applied{outcome: unchanged, kind: kindEndpointSlice}
	}
	return applied{outcome: written, kind: kindEndpointSlice}
}

// deleteSlices deletes owned (every EndpointSlice md controls), and stops at
// the first delete that fails.
func (c *Controller) deleteSlices(ctx context.Context, owned []*discoveryv1.EndpointSlice) applied {
	res := applied{outcome: unchanged, kind: kindEndpointSlice}
	for _, s := range owned {
		if err := c.deleteEndpointSlice(ctx, s); err != nil {
			return failed(kindEndpointSlice, s.Name, err)
		}
		res.outcome = written
	}
	return res
}

// applyTerminating sends the updates of terminatingSlices. A slice already
// gone is fine: it carries no traffic.
func (c *Controller) applyTerminating(ctx context.Context, key cache.ObjectName, updates []*discoveryv1.EndpointSlice) applied {
	res := applied{outcome: unchanged, kind: kindEndpointSlice}
	for _, s := range updates {
		if err := c.updateEndpointSlice(ctx, key, s); err != nil && !apierrors.IsNotFound(err) {
			return failed(kindEndpointSlice, s.Name, err)
		}
		res.outcome = written
	}
	return res
}

// applyStatus writes p's status to md and, once it is written, records
// p's Events.
func (c *Controller) applyStatus(ctx context.Context, md *crddemov1.Mydemo, p statusPlan) applied {
	res := applied{outcome: unchanged, kind: kindMydemo, name: md.Name}
	if !p.write {
		return res
	}
	updated := md.DeepCopy()
	updated.Status = p.status
	if err := c.writeStatus(ctx, updated); err != nil {
		return failed(kindMydemo, md.Name, err)
	}
	c.wording.wrote(cache.MetaObjectToName(md))
	for _, ev := range p.events {
		c.recorder.Event(md, ev.eventType, ev.reason, ev.message)
	}
	res.outcome = written
	return res
}
