package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/probe"
)

// errRetryLater asks the worker to retry the key with backoff without
// reporting an error: a conflict with a foreign object, or a child that is
// being replaced. Its cause is already in the Mydemo's status.
var errRetryLater = errors.New("retry later")

// syncMydemo makes the world match one Mydemo: schedules its probe, creates
// or updates its Service and EndpointSlice, and writes its status, each only
// when something differs from the informer caches.
func (c *Controller) syncMydemo(ctx context.Context, key cache.ObjectName) error {
	logger := klog.LoggerWithValues(klog.FromContext(ctx), "mydemo", key)
	ctx = klog.NewContext(ctx, logger)

	cached, err := c.mydemoLister.Mydemos(key.Namespace).Get(key.Name)
	if apierrors.IsNotFound(err) {
		// The Service and EndpointSlice are owned by the Mydemo and go by
		// garbage collection; only the probe is ours to stop.
		c.prober.Forget(key)
		c.recent.forget(kindMydemo, key.Namespace, key.Name)
		logger.V(4).Info("Mydemo is gone")
		return nil
	}
	if err != nil {
		return err
	}
	// Our last status write, if the cache has not delivered it yet.
	md, _ := freshest(c.recent, kindMydemo, key.Namespace, key.Name, cached, true)
	if md.DeletionTimestamp != nil {
		c.prober.Forget(key)
		return nil
	}

	spec, ok := parseSpec(md)
	if !ok {
		c.prober.Forget(key)
		pub := publication{reason: reasonInvalidSpec, message: fmt.Sprintf(msgInvalidSpec, md.Spec.IP)}
		reach := reachability{disabledMessage: pub.message}
		return c.updateStatus(ctx, md, pub, reach)
	}

	reach := c.reconcileProbe(key, md, spec)
	pub, pubErr := c.publish(ctx, md, spec, reach.ready())
	if isTransient(pubErr) {
		// A conflict, throttling or a timeout says nothing new about the
		// Mydemo: keep its status (a published Mydemo stays Published) and
		// retry. Only a Mydemo not yet published shows the error, so that
		// a lasting failure (such as a missing permission) is visible.
		if apierrors.IsConflict(pubErr) || meta.IsStatusConditionTrue(md.Status.Conditions, crddemov1.ConditionPublished) {
			return pubErr
		}
		pub.message = fmt.Sprintf("%s: %s", pub.message, apiMessage(pubErr))
	}
	if err := c.updateStatus(ctx, md, pub, reach); err != nil {
		return err
	}
	return pubErr
}

// isTransient reports whether err is a failure to retry rather than an
// outcome that the status describes.
func isTransient(err error) bool {
	return err != nil && !errors.Is(err, errRetryLater)
}

// reconcileProbe schedules (or stops) md's probe and reads its verdict.
func (c *Controller) reconcileProbe(key cache.ObjectName, md *crddemov1.Mydemo, spec parsedSpec) reachability {
	reach := reachability{endpoint: spec.endpoint()}
	target, enabled, why := probeTarget(md, spec)
	if !enabled {
		c.prober.Forget(key)
		reach.disabledMessage = why
		return reach
	}
	reach.probed = true
	_, known := c.prober.State(key)
	c.prober.Ensure(key, target)
	if !known {
		// A new process (restart, failover) starts from the verdict the
		// status records, so it neither marks every endpoint not ready
		// nor rewrites every status while it waits for first probes.
		if seed, ok := seedFromStatus(md, reach.endpoint); ok {
			c.prober.Seed(key, seed)
		}
	}
	reach.state, _ = c.prober.State(key)
	return reach
}

// seedFromStatus reads the prober state that md's Reachable condition
// records, if it was judged for the current spec.
func seedFromStatus(md *crddemov1.Mydemo, endpoint string) (probe.State, bool) {
	cond := meta.FindStatusCondition(md.Status.Conditions, crddemov1.ConditionReachable)
	if cond == nil || cond.ObservedGeneration != md.Generation {
		return probe.State{}, false
	}
	since := cond.LastTransitionTime.Time
	switch {
	case cond.Status == metav1.ConditionTrue && cond.Message == fmt.Sprintf(msgReachable, endpoint):
		return probe.State{Reachability: probe.Reachable, Since: since}, true
	case cond.Status == metav1.ConditionFalse:
		prefix := fmt.Sprintf(msgUnreachable, endpoint, "")
		if msg, ok := strings.CutPrefix(cond.Message, prefix); ok {
			return probe.State{Reachability: probe.Unreachable, Message: msg, Since: since}, true
		}
	}
	return probe.State{}, false
}

// probeTarget turns md's probe settings into a prober target. Without a
// probe section a TCP port is probed with the API defaults and any other
// protocol is not probed.
func probeTarget(md *crddemov1.Mydemo, spec parsedSpec) (probe.Target, bool, string) {
	p := md.Spec.Probe
	if p == nil {
		if spec.protocol != corev1.ProtocolTCP {
			return probe.Target{}, false, fmt.Sprintf(msgProbeDisabledProtocol, spec.protocol)
		}
		p = &crddemov1.Probe{}
	}
	if p.Type == crddemov1.ProbeTypeNone {
		return probe.Target{}, false, msgProbeDisabledNone
	}
	if spec.protocol != corev1.ProtocolTCP {
		return probe.Target{}, false, fmt.Sprintf(msgProbeDisabledProtocol, spec.protocol)
	}
	return probe.Target{
		Address:          spec.endpoint(),
		Period:           seconds(p.PeriodSeconds, 10),
		Timeout:          seconds(p.TimeoutSeconds, 1),
		SuccessThreshold: atLeastOne(p.SuccessThreshold, 1),
		FailureThreshold: atLeastOne(p.FailureThreshold, 3),
	}, true, ""
}

func seconds(v, def int32) time.Duration {
	return time.Duration(atLeastOne(v, int(def))) * time.Second
}

func atLeastOne(v int32, def int) int {
	if v < 1 {
		return def
	}
	return int(v)
}

// publish makes md's Service and EndpointSlice match the spec. It returns
// the Published condition's inputs and an error to retry with.
func (c *Controller) publish(ctx context.Context, md *crddemov1.Mydemo, spec parsedSpec, ready bool) (publication, error) {
	svcName := cache.ObjectName{Namespace: md.Namespace, Name: md.Name}.String()
	pub := publication{serviceName: md.Name, reason: reasonPublishing, message: fmt.Sprintf(msgPublishing, svcName)}

	svc, err := c.syncService(ctx, md, spec)
	switch {
	case errors.Is(err, errForeignObject):
		pub.serviceName = ""
		pub.reason, pub.message = ReasonServiceConflict, fmt.Sprintf(msgServiceConflict, svcName)
		return pub, errRetryLater
	case apierrors.IsInvalid(err):
		pub.reason, pub.message = ReasonServiceRejected, fmt.Sprintf(msgServiceRejected, svcName, apiMessage(err))
		// Retrying will not help until the spec or the cluster changes;
		// the periodic resync tries again.
		return pub, nil
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		// The namespace, and the Mydemo with it, is going away.
		return pub, nil
	case err != nil:
		return pub, err
	case svc == nil:
		// The old Service is being replaced (its IP family changed).
		return pub, errRetryLater
	}
	pub.clusterIP = svc.Spec.ClusterIP

	sliceName := endpointSliceName(md, spec.family)
	err = c.syncEndpointSlice(ctx, md, spec, ready)
	switch {
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return pub, nil
	case errors.Is(err, errForeignObject):
		pub.reason = ReasonEndpointSliceConflict
		pub.message = fmt.Sprintf(msgEndpointSliceConflict, cache.ObjectName{Namespace: md.Namespace, Name: sliceName}.String())
		return pub, errRetryLater
	case err != nil:
		return pub, err
	}
	pub.published = true
	pub.reason = ReasonPublished
	pub.message = fmt.Sprintf(msgPublished, svcName, svc.Spec.ClusterIP, spec.endpoint())
	return pub, nil
}

// errForeignObject says that an object with the name we need exists and is
// not controlled by the Mydemo. We never modify or adopt it.
var errForeignObject = errors.New("object exists and is not controlled by this Mydemo")

// syncService creates or updates md's Service. It returns nil, nil while an
// old Service with the wrong IP family is being deleted.
func (c *Controller) syncService(ctx context.Context, md *crddemov1.Mydemo, spec parsedSpec) (*corev1.Service, error) {
	desired := newService(md, spec)
	existing, found, err := c.cachedService(md.Namespace, md.Name)
	if err != nil {
		return nil, err
	}
	if !found {
		// Not in our label-filtered cache. If the status already reports a
		// conflict, the foreign Service is probably still there: read it
		// rather than send a create that would fail.
		if hasConflict(md, ReasonServiceConflict) {
			existing, err = c.kubeClient.CoreV1().Services(md.Namespace).Get(ctx, md.Name, metav1.GetOptions{})
			found = err == nil
			if err != nil && !apierrors.IsNotFound(err) {
				return nil, err
			}
		}
		if !found {
			var created bool
			existing, created, err = c.createService(ctx, desired)
			if created || err != nil {
				return existing, err
			}
		}
	}
	if !metav1.IsControlledBy(existing, md) {
		return nil, errForeignObject
	}
	if len(existing.Spec.IPFamilies) > 0 && existing.Spec.IPFamilies[0] != spec.family {
		// The primary IP family of a Service cannot change in place.
		return nil, c.deleteService(ctx, existing)
	}
	if updated := updatedService(existing, desired); updated != nil {
		return c.updateService(ctx, updated)
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

// cachedEndpointSlice is the EndpointSlice from the cache, or our own newer
// write.
func (c *Controller) cachedEndpointSlice(namespace, name string) (*discoveryv1.EndpointSlice, bool, error) {
	slice, err := c.sliceLister.EndpointSlices(namespace).Get(name)
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, false, err
	}
	slice, found := freshest(c.recent, kindEndpointSlice, namespace, name, slice, err == nil)
	return slice, found, nil
}

// hasConflict reports whether md's status already records a conflict of
// the given reason.
func hasConflict(md *crddemov1.Mydemo, reason string) bool {
	cond := meta.FindStatusCondition(md.Status.Conditions, crddemov1.ConditionPublished)
	return cond != nil && cond.Reason == reason
}

// syncEndpointSlice creates or updates md's EndpointSlice and deletes any
// other slice md controls (left over from an IP family change).
func (c *Controller) syncEndpointSlice(ctx context.Context, md *crddemov1.Mydemo, spec parsedSpec, ready bool) error {
	desired := newEndpointSlice(md, spec, ready)
	existing, found, err := c.cachedEndpointSlice(md.Namespace, desired.Name)
	if err != nil {
		return err
	}
	if !found {
		if hasConflict(md, ReasonEndpointSliceConflict) {
			existing, err = c.kubeClient.DiscoveryV1().EndpointSlices(md.Namespace).Get(ctx, desired.Name, metav1.GetOptions{})
			found = err == nil
			if err != nil && !apierrors.IsNotFound(err) {
				return err
			}
		}
		if !found {
			var created bool
			existing, created, err = c.createEndpointSlice(ctx, desired)
			if err != nil {
				return err
			}
			if created {
				return c.deleteStaleEndpointSlices(ctx, md, desired.Name)
			}
		}
	}
	if !metav1.IsControlledBy(existing, md) {
		return errForeignObject
	}
	if updated := updatedEndpointSlice(existing, desired); updated != nil {
		if err := c.updateEndpointSlice(ctx, updated); err != nil {
			return err
		}
	}
	return c.deleteStaleEndpointSlices(ctx, md, desired.Name)
}

// deleteStaleEndpointSlices removes slices md controls other than keep.
func (c *Controller) deleteStaleEndpointSlices(ctx context.Context, md *crddemov1.Mydemo, keep string) error {
	objs, err := c.sliceIndexer.ByIndex(ownerIndex, cache.ObjectName{Namespace: md.Namespace, Name: md.Name}.String())
	if err != nil {
		return err
	}
	for _, obj := range objs {
		slice, ok := obj.(*discoveryv1.EndpointSlice)
		if !ok || slice.Name == keep || !metav1.IsControlledBy(slice, md) {
			continue
		}
		if err := c.deleteEndpointSlice(ctx, slice); err != nil {
			return err
		}
	}
	return nil
}

// updateStatus writes md's status when it differs from what is stored, and
// emits an Event for each condition transition once the write succeeded.
func (c *Controller) updateStatus(ctx context.Context, md *crddemov1.Mydemo, pub publication, reach reachability) error {
	status := computeStatus(md, pub, reach, metav1.NewTime(c.clock.Now()))
	if statusEqual(md.Status, status) {
		return nil
	}
	updated := md.DeepCopy()
	updated.Status = status
	if err := c.writeStatus(ctx, updated); err != nil {
		return err
	}
	for _, ev := range transitions(md.Status.Conditions, status.Conditions, pub) {
		c.recorder.Event(md, ev.eventType, ev.reason, ev.message)
	}
	return nil
}
