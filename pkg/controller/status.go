package controller

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/probe"
)

// publication is what the sync learned about the Service and EndpointSlice.
type publication struct {
	published   bool
	reason      string // reason of the Published condition
	message     string
	serviceName string
	clusterIP   string
}

// reachability is what the sync learned from the prober.
type reachability struct {
	// probed is false when probing is off (probe.type None, or a protocol
	// that cannot be probed); the endpoint is then ready without a probe.
	probed bool
	// disabledMessage explains why probing is off.
	disabledMessage string
	state           probe.State
	endpoint        string
}

// ready reports whether the endpoint should be marked ready.
func (r reachability) ready() bool {
	return !r.probed || r.state.Reachability == probe.Reachable
}

// computeStatus is the status md should have, given what was observed. It
// starts from md's current conditions so that lastTransitionTime moves only
// when a condition's status changes.
func computeStatus(md *crddemov1.Mydemo, pub publication, reach reachability, now metav1.Time) crddemov1.MydemoStatus {
	status := crddemov1.MydemoStatus{
		ObservedGeneration: md.Generation,
		ServiceName:        pub.serviceName,
		ClusterIP:          pub.clusterIP,
	}
	if len(md.Status.Conditions) > 0 {
		status.Conditions = make([]metav1.Condition, len(md.Status.Conditions))
		copy(status.Conditions, md.Status.Conditions)
	}
	set := func(condType string, s metav1.ConditionStatus, reason, message string) {
		meta.SetStatusCondition(&status.Conditions, metav1.Condition{
			Type:               condType,
			Status:             s,
			ObservedGeneration: md.Generation,
			LastTransitionTime: now,
			Reason:             reason,
			Message:            message,
		})
	}

	if pub.published {
		set(crddemov1.ConditionPublished, metav1.ConditionTrue, pub.reason, pub.message)
	} else {
		set(crddemov1.ConditionPublished, metav1.ConditionFalse, pub.reason, pub.message)
	}

	switch {
	case !reach.probed:
		set(crddemov1.ConditionReachable, metav1.ConditionUnknown, reasonProbeDisabled, reach.disabledMessage)
	case reach.state.Reachability == probe.Reachable:
		set(crddemov1.ConditionReachable, metav1.ConditionTrue, reasonProbeSucceeded, fmt.Sprintf(msgReachable, reach.endpoint))
	case reach.state.Reachability == probe.Unreachable:
		set(crddemov1.ConditionReachable, metav1.ConditionFalse, reasonProbeFailed, fmt.Sprintf(msgUnreachable, reach.endpoint, reach.state.Message))
	default:
		set(crddemov1.ConditionReachable, metav1.ConditionUnknown, reasonProbing, fmt.Sprintf(msgProbing, reach.endpoint))
	}

	switch {
	case !pub.published:
		set(crddemov1.ConditionReady, metav1.ConditionFalse, reasonNotPublished, fmt.Sprintf(msgNotPublished, pub.message))
	case !reach.probed:
		set(crddemov1.ConditionReady, metav1.ConditionTrue, reasonReady, fmt.Sprintf(msgReadyUnprobed, reach.endpoint))
	case reach.state.Reachability == probe.Reachable:
		set(crddemov1.ConditionReady, metav1.ConditionTrue, reasonReady, fmt.Sprintf(msgReady, reach.endpoint))
	case reach.state.Reachability == probe.Unreachable:
		set(crddemov1.ConditionReady, metav1.ConditionFalse, reasonNotReachable, fmt.Sprintf(msgNotReachable, reach.state.Message))
	default:
		set(crddemov1.ConditionReady, metav1.ConditionFalse, reasonAwaitingProbe, msgAwaitingProbe)
	}
	return status
}

// statusEqual reports whether writing want over have would change anything.
func statusEqual(have, want crddemov1.MydemoStatus) bool {
	return equality.Semantic.DeepEqual(have, want)
}

// transitionEvent is an Event to emit after a status write succeeded.
type transitionEvent struct {
	eventType string
	reason    string
	message   string
}

// transitions lists the Events that moving from old to new deserves: one per
// condition whose status or (for Published) reason changed.
func transitions(old, new []metav1.Condition, pub publication) []transitionEvent {
	var events []transitionEvent
	oldPub := meta.FindStatusCondition(old, crddemov1.ConditionPublished)
	newPub := meta.FindStatusCondition(new, crddemov1.ConditionPublished)
	if newPub != nil && (oldPub == nil || oldPub.Status != newPub.Status || oldPub.Reason != newPub.Reason) {
		switch {
		case newPub.Status == metav1.ConditionTrue && oldPub != nil && isConflictReason(oldPub.Reason):
			events = append(events, transitionEvent{corev1.EventTypeNormal, ReasonConflictResolved, fmt.Sprintf(msgConflictResolved, pub.serviceName)})
		case newPub.Status == metav1.ConditionTrue:
			events = append(events, transitionEvent{corev1.EventTypeNormal, ReasonPublished, newPub.Message})
		case isConflictReason(newPub.Reason) || newPub.Reason == ReasonServiceRejected:
			events = append(events, transitionEvent{corev1.EventTypeWarning, newPub.Reason, newPub.Message})
		}
	}
	oldReach := meta.FindStatusCondition(old, crddemov1.ConditionReachable)
	newReach := meta.FindStatusCondition(new, crddemov1.ConditionReachable)
	if newReach != nil && (oldReach == nil || oldReach.Status != newReach.Status) {
		switch newReach.Status {
		case metav1.ConditionTrue:
			events = append(events, transitionEvent{corev1.EventTypeNormal, ReasonReachable, newReach.Message})
		case metav1.ConditionFalse:
			events = append(events, transitionEvent{corev1.EventTypeWarning, ReasonUnreachable, newReach.Message})
		}
	}
	return events
}

func isConflictReason(reason string) bool {
	return reason == ReasonServiceConflict || reason == ReasonEndpointSliceConflict
}
