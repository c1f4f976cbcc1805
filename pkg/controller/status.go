package controller

import (
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/probe"
	"github.com/crddemo/crddemo/pkg/probe/check"
)

// maxConditions is the CRD's limit on status.conditions. Conditions other
// clients add are kept only as far as they fit beside ours, so that they
// can never make our status writes fail.
const maxConditions = 16

// Bounds of the text in status and Events. Messages come from probes of
// targets the controller does not trust, DNS answers, address rules and
// the API server; each is bounded where it is made (see check.Bound), and
// again here, where status and Events are built, so that no path can
// bypass the bound and a status always fits in its object.
const (
	// maxConditionMessageBytes bounds a condition's message, far below
	// the API's 32 KiB: a condition names at most one endpoint's message.
	maxConditionMessageBytes = 1024
	// maxEventMessageBytes bounds an Event's message, as events.k8s.io
	// bounds a note: an Event names at most maxListedEndpoints messages.
	maxEventMessageBytes = 1024
	// statusMessageBudget is how many bytes of per-endpoint and
	// per-hostname messages one status holds at check.MaxMessageBytes
	// each; the messages after it, in status order, are cut to
	// maxMessageBytesOverBudget. A Mydemo of 1,000 endpoints failing in
	// 1,000 different ways then still fits its object (see
	// TestWorstCaseStatusSize), and the common messages ("connection
	// refused", "HTTP 503 from GET /healthz") are short enough to stay
	// whole.
	statusMessageBudget = 64 << 10
	// maxMessageBytesOverBudget is long enough for the common messages
	// whole, and for the start of the others.
	maxMessageBytesOverBudget = 48
)

// ownConditions are the condition types this controller writes
// (CertificateValid only when a TLS probe saw a certificate, ZoneHints
// only with spec.trafficDistribution).
var ownConditions = []string{crddemov1.ConditionPublished, crddemov1.ConditionReachable, crddemov1.ConditionReady, crddemov1.ConditionCertificateValid, crddemov1.ConditionZoneHints}

// publication is what the sync learned about the Service and EndpointSlices.
type publication struct {
	// published: the Service and every slice match the spec.
	published bool
	// serviceOurs: our Service exists (it may lag behind the spec), so
	// readiness follows the probes even while a write keeps failing.
	serviceOurs bool
	reason      string // reason of the Published condition
	message     string
	serviceName string
	clusterIP   string
	clusterIPs  []string
	// trafficMoved: this sync wrote slices of a Mydemo already
	// published, so traffic that was flowing goes elsewhere. A Mydemo's
	// first publication moves no traffic away from anything.
	trafficMoved bool
}

// endpointView is one endpoint with its verdict, as status reports it.
type endpointView struct {
	endpoint
	port   int32 // the probed port, for messages
	probed bool
	state  probe.State
}

// ready is the endpoint's readiness in its slice: serving and not
// draining.
func (v endpointView) ready(failOpen bool) bool {
	return v.serving(failOpen) && !v.drain
}

// serving is the endpoint's serving condition in its slice: its probe
// verdict (true when probing is off), or fail-open for one in rotation.
// A draining endpoint is never opened by failOpen (viewOf leaves it out of
// that judgement too): serving tells kube-proxy what its probe says.
func (v endpointView) serving(failOpen bool) bool {
	return v.refused == "" && (!v.probed || v.state.Reachability == probe.Reachable || (failOpen && !v.drain))
}

// draining reports whether the endpoint is published and drained.
func (v endpointView) draining() bool { return v.refused == "" && v.drain }

func (v endpointView) target() string {
	if v.port == 0 {
		return v.addr.String()
	}
	return netJoin(v.addr, v.port)
}

// statusInput is everything a status is computed from: the endpoints with
// their verdicts and the hostnames with their answers (observe.go), and what
// the publication's writes came to (sync.go).
type statusInput struct {
	pub       publication
	endpoints []endpointView
	// probeOff says why nothing is probed ("" when probing is on).
	probeOff  string
	hostnames []string
	answers   map[string]hostAnswer
	// failOpen is set when the Mydemo opted in and no probed endpoint
	// passes: every endpoint is published ready.
	failOpen bool
	// roles are spec.roles with their probes' verdicts (observe.go), and
	// roleResults what the publication made of each (publish_roles.go):
	// one per role once the roles were planned, none before.
	roles       []roleView
	roleResults []roleResult
	// invalid says the spec cannot be published at all.
	invalid string
	// certWarning is how close a certificate may come to its expiry
	// before the CertificateValid condition turns False (the
	// controller's Options.CertificateExpiryWarning).
	certWarning time.Duration
}

// hostAnswer is a hostname's DNS answer, as status reports it.
type hostAnswer struct {
	addresses int
	resolved  bool
	message   string
}

// counts of a statusInput.
type counts struct {
	total, published, ready, draining, probed, reachable, unreachable int
}

func (o statusInput) counts() counts {
	var c counts
	c.total = len(o.endpoints)
	for _, v := range o.endpoints {
		if v.refused != "" {
			continue
		}
		c.published++
		if v.ready(o.failOpen) {
			c.ready++
		}
		if v.drain {
			c.draining++
		}
		if v.probed {
			c.probed++
			switch v.state.Reachability {
			case probe.Reachable:
				c.reachable++
			case probe.Unreachable:
				c.unreachable++
			}
		}
	}
	return c
}

// computeStatus is the status md should have. It starts from md's current
// conditions so that lastTransitionTime moves only when a condition's status
// changes; the Reachable condition takes its time from the prober, which
// knows when a verdict changed, rather than from when a sync ran.
func computeStatus(md *crddemov1.Mydemo, o statusInput, now time.Time) crddemov1.MydemoStatus {
	c := o.counts()
	status := crddemov1.MydemoStatus{
		ObservedGeneration: md.Generation,
		ServiceName:        o.pub.serviceName,
		ClusterIP:          o.pub.clusterIP,
		ClusterIPs:         o.pub.clusterIPs,
		ReadyEndpoints:     int32(c.ready),
		TotalEndpoints:     int32(c.total),
		EndpointsReady:     fmt.Sprintf("%d/%d", c.ready, c.total),
		Conditions:         keptConditions(md.Status.Conditions),
	}
	if o.invalid != "" {
		status.EndpointsReady = ""
	}
	var memberOf map[string][]string
	status.Roles, status.RoleSummary, memberOf = roleStatuses(o)
	for _, v := range o.endpoints {
		es := endpointStatus(v, o.failOpen)
		es.Roles = memberOf[es.Address]
		status.Endpoints = append(status.Endpoints, es)
	}
	for _, h := range o.hostnames {
		a := o.answers[h]
		status.Hostnames = append(status.Hostnames, crddemov1.HostnameStatus{
			Hostname: h, Addresses: int32(a.addresses), Resolved: a.resolved, Message: a.message,
		})
	}

	boundMessages(&status)

	set := func(condType string, s metav1.ConditionStatus, at time.Time, reason, message string) {
		meta.SetStatusCondition(&status.Conditions, metav1.Condition{
			Type:               condType,
			Status:             s,
			ObservedGeneration: md.Generation,
			LastTransitionTime: metav1.NewTime(at.Truncate(time.Second)),
			Reason:             reason,
			Message:            check.Bound(message, maxConditionMessageBytes),
		})
	}

	if o.pub.published {
		set(crddemov1.ConditionPublished, metav1.ConditionTrue, now, o.pub.reason, o.pub.message)
	} else {
		set(crddemov1.ConditionPublished, metav1.ConditionFalse, now, o.pub.reason, o.pub.message)
	}

	reachStatus, reachAt, reachReason, reachMsg := reachableCondition(o, c, now)
	set(crddemov1.ConditionReachable, reachStatus, reachAt, reachReason, reachMsg)

	readyStatus, readyReason, readyMsg := readyCondition(o, c)
	set(crddemov1.ConditionReady, readyStatus, now, readyReason, readyMsg)

	if certStatus, certReason, certMsg, ok := certificateCondition(status.Endpoints, now, o.certWarning); ok {
		set(crddemov1.ConditionCertificateValid, certStatus, now, certReason, certMsg)
	} else {
		meta.RemoveStatusCondition(&status.Conditions, crddemov1.ConditionCertificateValid)
	}

	if ok, hinted, reason, msg := zoneHintsOf(md, o).condition(); !ok {
		meta.RemoveStatusCondition(&status.Conditions, crddemov1.ConditionZoneHints)
	} else if hinted {
		set(crddemov1.ConditionZoneHints, metav1.ConditionTrue, now, reason, msg)
	} else {
		set(crddemov1.ConditionZoneHints, metav1.ConditionFalse, now, reason, msg)
	}
	return status
}

// boundMessages bounds the per-endpoint and per-hostname messages of
// status: each to check.MaxMessageBytes while statusMessageBudget lasts,
// to maxMessageBytesOverBudget after it.
func boundMessages(status *crddemov1.MydemoStatus) {
	left := statusMessageBudget
	bound := func(msg string) string {
		if msg == "" {
			return ""
		}
		limit := check.MaxMessageBytes
		if left < limit {
			limit = maxMessageBytesOverBudget
		}
		msg = check.Bound(msg, limit)
		left -= len(msg)
		return msg
	}
	for i := range status.Endpoints {
		status.Endpoints[i].Message = bound(status.Endpoints[i].Message)
	}
	for i := range status.Hostnames {
		status.Hostnames[i].Message = bound(status.Hostnames[i].Message)
	}
}

// keptConditions copies conds, dropping foreign conditions beyond what fits
// beside ours.
func keptConditions(conds []metav1.Condition) []metav1.Condition {
	if len(conds) == 0 {
		return nil
	}
	out := make([]metav1.Condition, 0, len(conds))
	foreign := 0
	for _, c := range conds {
		if !slices.Contains(ownConditions, c.Type) {
			if foreign >= maxConditions-len(ownConditions) {
				continue
			}
			foreign++
		}
		out = append(out, c)
	}
	return out
}

func endpointStatus(v endpointView, failOpen bool) crddemov1.EndpointStatus {
	es := crddemov1.EndpointStatus{
		Address:   v.addr.String(),
		Hostname:  v.hostname,
		Published: v.refused == "",
		Ready:     v.ready(failOpen),
		Probe:     crddemov1.ProbeNotProbed,
		Reason:    v.refusedReason,
		Message:   v.refused,
	}
	if v.draining() {
		es.Reason, es.Message = ReasonDraining, msgEndpointDraining
	}
	if v.refused != "" || !v.probed {
		return es
	}
	// A draining endpoint keeps its verdict: it is what its slice's
	// serving condition says, and what a restart seeds its probe from.
	switch v.state.Reachability {
	case probe.Reachable:
		es.Probe = crddemov1.ProbeReachable
	case probe.Unreachable:
		es.Probe = crddemov1.ProbeUnreachable
		es.Message = v.state.Message
	default:
		es.Probe = crddemov1.ProbeUnknown
	}
	if !v.state.Since.IsZero() && v.state.Reachability != probe.Unknown {
		es.LastTransitionTime = ptrTime(v.state.Since)
	}
	if !v.state.CertNotAfter.IsZero() {
		es.CertificateNotAfter = ptrTime(v.state.CertNotAfter)
	}
	return es
}

func ptrTime(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t.Truncate(time.Second))
	return &mt
}

// reachableCondition summarises the probe verdicts. Its time is when the
// summary last changed according to the prober: for "none reachable" the
// latest failure, for "some reachable" the earliest success.
func reachableCondition(o statusInput, c counts, now time.Time) (metav1.ConditionStatus, time.Time, string, string) {
	switch {
	case o.invalid != "":
		return metav1.ConditionUnknown, now, reasonInvalidSpec, o.invalid
	case o.probeOff != "":
		return metav1.ConditionUnknown, now, reasonProbeDisabled, o.probeOff
	case c.probed == 0:
		return metav1.ConditionUnknown, now, reasonNoEndpoints, msgNoEndpoints
	case c.reachable == 0 && c.unreachable == 0:
		return metav1.ConditionUnknown, now, reasonProbing, fmt.Sprintf(msgProbing, c.probed)
	case c.reachable == 0:
		at, first := time.Time{}, o.firstWith(probe.Unreachable)
		for _, v := range o.endpoints {
			if v.probed && v.refused == "" && v.state.Since.After(at) {
				at = v.state.Since
			}
		}
		return metav1.ConditionFalse, orNow(at, now), reasonProbeFailed, fmt.Sprintf(msgUnreachable, first.target(), first.state.Message, c.unreachable, c.probed)
	default:
		var at time.Time
		for _, v := range o.endpoints {
			if v.probed && v.refused == "" && v.state.Reachability == probe.Reachable && (at.IsZero() || v.state.Since.Before(at)) {
				at = v.state.Since
			}
		}
		if c.reachable == c.probed {
			return metav1.ConditionTrue, orNow(at, now), reasonProbeSucceeded, fmt.Sprintf(msgReachable, c.reachable, c.probed)
		}
		return metav1.ConditionTrue, orNow(at, now), reasonPartiallyReachable, fmt.Sprintf(msgPartiallyReachable, c.reachable, c.probed)
	}
}

func orNow(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return t
}

// firstWith returns the first probed endpoint with reachability r.
func (o statusInput) firstWith(r probe.Reachability) endpointView {
	v, _ := o.first(func(v endpointView) bool { return v.state.Reachability == r })
	return v
}

// first returns the first published, probed endpoint that match accepts.
func (o statusInput) first(match func(endpointView) bool) (endpointView, bool) {
	for _, v := range o.endpoints {
		if v.probed && v.refused == "" && match(v) {
			return v, true
		}
	}
	return endpointView{}, false
}

// readyCondition: Ready is True while the Service is ours and at least one
// endpoint is ready in it; the reason tells full from partial health. A
// draining endpoint is not ready: a Mydemo with none ready but some
// draining is False with reason Draining, unless an endpoint in rotation
// fails its probe, which is the news that matters (Unreachable).
func readyCondition(o statusInput, c counts) (metav1.ConditionStatus, string, string) {
	failing, anyFailing := o.first(func(v endpointView) bool { return !v.drain && v.state.Reachability == probe.Unreachable })
	switch {
	case !o.pub.serviceOurs:
		return metav1.ConditionFalse, reasonNotPublished, fmt.Sprintf(msgNotPublished, o.pub.message)
	case c.published == 0:
		return metav1.ConditionFalse, reasonNoEndpoints, msgNoEndpoints
	case o.failOpen:
		return metav1.ConditionTrue, reasonFailOpen, fmt.Sprintf(msgFailOpen, c.ready)
	case c.ready == c.published && c.ready == c.total:
		return metav1.ConditionTrue, reasonReady, fmt.Sprintf(msgReady, c.ready, c.total)
	case c.ready > 0:
		return metav1.ConditionTrue, reasonPartiallyReady, fmt.Sprintf(msgPartiallyReady, c.ready, c.total) + drainingNote(c)
	case anyFailing:
		return metav1.ConditionFalse, reasonNotReachable, fmt.Sprintf(msgNotReachable, failing.target(), failing.state.Message) + drainingNote(c)
	case c.draining > 0:
		return metav1.ConditionFalse, ReasonDraining, fmt.Sprintf(msgNoneReadyDraining, c.draining, c.total)
	default:
		return metav1.ConditionFalse, reasonAwaitingProbe, msgAwaitingProbe
	}
}

// drainingNote adds how many endpoints drain to a Ready message, if any.
func drainingNote(c counts) string {
	if c.draining == 0 {
		return ""
	}
	return fmt.Sprintf(msgDrainingNote, c.draining)
}

// statusEqual reports whether writing want over have would change anything
// that matters. Condition messages are left out: every fact they state is
// also in a structured field (reason, counts, endpoints), so a new wording
// alone, such as after an upgrade, never costs a write per Mydemo; it shows
// with the next real change.
func statusEqual(have, want crddemov1.MydemoStatus) bool {
	h, w := have.DeepCopy(), want.DeepCopy()
	for i := range h.Conditions {
		h.Conditions[i].Message = ""
	}
	for i := range w.Conditions {
		w.Conditions[i].Message = ""
	}
	return equality.Semantic.DeepEqual(h, w)
}

// transitionEvent is an Event to emit after a status write succeeded.
type transitionEvent struct {
	eventType string
	reason    string
	message   string
}

// maxListedEndpoints bounds how many endpoints one Event names.
const maxListedEndpoints = 3

// transitions lists the Events that moving from old to new deserves. It is
// bounded whatever the number of endpoints: at most one Event about
// publication, one about refused addresses, one about certificates and
// one about readiness per sync, and a Mydemo published for the first time gets a single Event that
// says both publication and readiness. Each message is bounded to
// maxEventMessageBytes.
func transitions(old, new crddemov1.MydemoStatus) []transitionEvent {
	events := unboundedTransitions(old, new)
	for i := range events {
		events[i].message = check.Bound(events[i].message, maxEventMessageBytes)
	}
	return events
}

// unboundedTransitions is transitions before the messages are bounded.
func unboundedTransitions(old, new crddemov1.MydemoStatus) []transitionEvent {
	var events []transitionEvent
	oldPub := meta.FindStatusCondition(old.Conditions, crddemov1.ConditionPublished)
	newPub := meta.FindStatusCondition(new.Conditions, crddemov1.ConditionPublished)
	newReady := meta.FindStatusCondition(new.Conditions, crddemov1.ConditionReady)
	firstPublish := false
	if newPub != nil && (oldPub == nil || oldPub.Status != newPub.Status || oldPub.Reason != newPub.Reason) {
		switch {
		case newPub.Status == metav1.ConditionTrue && oldPub != nil && isConflictReason(oldPub.Reason):
			events = append(events, transitionEvent{corev1.EventTypeNormal, ReasonConflictResolved, fmt.Sprintf(msgConflictResolved, new.ServiceName)})
		case newPub.Status == metav1.ConditionTrue && (oldPub == nil || oldPub.Reason != ReasonPublished):
			firstPublish = oldPub == nil || oldPub.Reason == reasonPublishing || oldPub.Reason == ReasonWaitingForOldChildren
			msg := newPub.Message
			if firstPublish && newReady != nil {
				msg += "; " + newReady.Message
			}
			events = append(events, transitionEvent{corev1.EventTypeNormal, ReasonPublished, msg})
		case isWarningReason(newPub.Reason):
			events = append(events, transitionEvent{corev1.EventTypeWarning, newPub.Reason, newPub.Message})
		}
	}
	if ev, ok := refusalEvent(old, new); ok {
		events = append(events, ev)
	}
	if ev, ok := certificateEvent(old, new); ok {
		events = append(events, ev)
	}
	events = append(events, roleEvents(old, new)...)
	if firstPublish {
		return events
	}
	// Panic mode starting is worth its own Warning, in place of the
	// readiness Event: every endpoint is now published ready although
	// none passes its probe.
	oldReady := meta.FindStatusCondition(old.Conditions, crddemov1.ConditionReady)
	if newReady != nil && newReady.Reason == reasonFailOpen && (oldReady == nil || oldReady.Reason != reasonFailOpen) {
		return append(events, transitionEvent{corev1.EventTypeWarning, ReasonFailOpen, newReady.Message})
	}
	if ev, ok := drainEvent(old, new); ok {
		events = append(events, ev)
	}
	if ev, ok := readinessEvent(old, new); ok {
		events = append(events, ev)
	}
	return events
}

// drainEvent is the one Normal Event for the endpoints that started or
// stopped draining between old and new, if any did. An endpoint that
// leaves the spec while draining is not announced: the spec change is the
// news, and the user made it.
func drainEvent(old, new crddemov1.MydemoStatus) (transitionEvent, bool) {
	wasDraining := map[string]bool{}
	for _, e := range old.Endpoints {
		wasDraining[e.Address] = e.Reason == ReasonDraining
	}
	var started, stopped []string
	for _, e := range new.Endpoints {
		draining := e.Reason == ReasonDraining
		switch {
		case draining && !wasDraining[e.Address]:
			started = append(started, e.Address)
		case !draining && wasDraining[e.Address]:
			stopped = append(stopped, e.Address)
		}
	}
	ready := fmt.Sprintf("%d of %d endpoints ready", new.ReadyEndpoints, new.TotalEndpoints)
	switch {
	case len(started) > 0:
		msg := fmt.Sprintf(msgEndpointsDraining, listSome(started), ready)
		if len(stopped) > 0 {
			msg += fmt.Sprintf(msgDrainStoppedToo, listSome(stopped))
		}
		return transitionEvent{corev1.EventTypeNormal, ReasonDraining, msg}, true
	case len(stopped) > 0:
		return transitionEvent{corev1.EventTypeNormal, ReasonDrainStopped, fmt.Sprintf(msgEndpointsDrainStopped, listSome(stopped), ready)}, true
	}
	return transitionEvent{}, false
}

// readinessEvent is the one Event for the endpoints whose probe verdict
// changed between old and new, if any did.
func readinessEvent(old, new crddemov1.MydemoStatus) (transitionEvent, bool) {
	before := map[string]string{}
	wasDraining := map[string]bool{}
	for _, e := range old.Endpoints {
		before[e.Address] = e.Probe
		wasDraining[e.Address] = e.Reason == ReasonDraining
	}
	var up, down []string
	for _, e := range new.Endpoints {
		// A draining endpoint's verdict changes no traffic and is no
		// one's alarm (drainEvent speaks for it). One that returns from
		// draining while its probe fails is news: it gets no traffic.
		if e.Reason == ReasonDraining {
			continue
		}
		if wasDraining[e.Address] {
			if e.Probe == crddemov1.ProbeUnreachable {
				down = append(down, e.Address+" ("+e.Message+")")
			}
			continue
		}
		prev, known := before[e.Address]
		if e.Probe == prev {
			continue
		}
		switch {
		case e.Probe == crddemov1.ProbeUnreachable:
			down = append(down, e.Address+" ("+e.Message+")")
		case e.Probe == crddemov1.ProbeReachable && (known || len(old.Endpoints) > 0):
			up = append(up, e.Address)
		}
	}
	// A status from before per-endpoint status: fall back to the
	// aggregate condition, so an upgrade does not announce every
	// endpoint again.
	if len(old.Endpoints) == 0 {
		oldReach := meta.FindStatusCondition(old.Conditions, crddemov1.ConditionReachable)
		newReach := meta.FindStatusCondition(new.Conditions, crddemov1.ConditionReachable)
		if oldReach != nil && newReach != nil && oldReach.Status == newReach.Status {
			return transitionEvent{}, false
		}
	}
	ready := fmt.Sprintf("%d of %d endpoints ready", new.ReadyEndpoints, new.TotalEndpoints)
	switch {
	case len(down) > 0:
		msg := fmt.Sprintf(msgEndpointsUnreachable, listSome(down), ready)
		if len(up) > 0 {
			msg += fmt.Sprintf("; reachable again: %s", listSome(up))
		}
		return transitionEvent{corev1.EventTypeWarning, ReasonUnreachable, msg}, true
	case len(up) > 0:
		return transitionEvent{corev1.EventTypeNormal, ReasonReachable, fmt.Sprintf(msgEndpointsReachable, listSome(up), ready)}, true
	}
	return transitionEvent{}, false
}

// refusalEvent is the one Warning for the addresses refused in new that
// were published, or absent, in old. An address refused in both is not
// announced again, whatever the rule: a restart or an upgrade that adds a
// reason must not repeat every refusal.
func refusalEvent(old, new crddemov1.MydemoStatus) (transitionEvent, bool) {
	wasRefused := map[string]bool{}
	for _, e := range old.Endpoints {
		wasRefused[e.Address] = !e.Published
	}
	var refused []string
	for _, e := range new.Endpoints {
		if e.Published || wasRefused[e.Address] {
			continue
		}
		refused = append(refused, e.Address+" ("+strings.TrimPrefix(e.Message, msgRefusedPrefix)+")")
	}
	if len(refused) == 0 {
		return transitionEvent{}, false
	}
	return transitionEvent{corev1.EventTypeWarning, ReasonAddressRefused, fmt.Sprintf(msgAddressRefused, listSome(refused))}, true
}

// listSome names the first few items and counts the rest.
func listSome(items []string) string {
	if len(items) <= maxListedEndpoints {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:maxListedEndpoints], ", "), len(items)-maxListedEndpoints)
}

func isConflictReason(reason string) bool {
	return reason == ReasonServiceConflict || reason == ReasonEndpointSliceConflict
}

func isWarningReason(reason string) bool {
	return isConflictReason(reason) || reason == ReasonServiceRejected || reason == ReasonWriteFailed
}
