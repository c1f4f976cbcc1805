package controller

import (
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
)

// Event reasons. Each names a transition the user should know about; the
// controller never emits an Event when nothing changed.
const (
	// ReasonPublished: the Service and EndpointSlices now publish the
	// Mydemo. For a new Mydemo this one Event also says how many
	// endpoints are ready.
	ReasonPublished = "Published"
	// ReasonServiceConflict: a Service of the Mydemo's name exists and is not
	// controlled by it; it is left alone, and no slice of ours feeds it.
	ReasonServiceConflict = "ServiceConflict"
	// ReasonEndpointSliceConflict: an EndpointSlice of a name the controller
	// needs exists and is not controlled by the Mydemo; it is left alone.
	ReasonEndpointSliceConflict = "EndpointSliceConflict"
	// ReasonConflictResolved: a conflicting object is gone and the Mydemo is
	// published.
	ReasonConflictResolved = "ConflictResolved"
	// ReasonServiceRejected: the API server refused the Service, for example
	// an IPv6 address in a cluster without IPv6 Service CIDRs.
	ReasonServiceRejected = "ServiceRejected"
	// ReasonWriteFailed: a write of the Service or an EndpointSlice keeps
	// failing (an admission policy, a missing permission); the message
	// quotes the API server.
	ReasonWriteFailed = "WriteFailed"
	// ReasonWaitingForOldChildren: a Service or EndpointSlice of the
	// Mydemo's name belongs to a deleted Mydemo of the same name and is
	// being garbage collected. Not an Event: it is expected and short.
	ReasonWaitingForOldChildren = "WaitingForOldChildren"
	// ReasonReachable: endpoints became reachable.
	ReasonReachable = "Reachable"
	// ReasonUnreachable: endpoints became unreachable.
	ReasonUnreachable = "Unreachable"
	// ReasonFailOpen: no endpoint passes its probe and probe.failOpen is
	// set, so every endpoint is published ready (panic mode).
	ReasonFailOpen = "FailOpen"
	// ReasonAddressRefused: an endpoint address is neither published nor
	// probed, because it is in the cluster's own networks, a metadata
	// address, a denied range, or not allowed by any AddressPolicy that
	// selects the namespace (status.endpoints[].reason says which).
	ReasonAddressRefused = "AddressRefused"
	// ReasonDraining: endpoints started draining (spec.endpoints[].drain):
	// not ready and terminating in their slices, so they get no new
	// connections. Also the reason of a draining endpoint in
	// status.endpoints[], and of the Ready condition when no endpoint is
	// ready and some drain. A Normal Event: the user asked for it.
	ReasonDraining = "Draining"
	// ReasonDrainStopped: endpoints stopped draining and are back in
	// rotation, ready as their probes say.
	ReasonDrainStopped = "DrainStopped"
	// ReasonCertificateExpiring: the earliest certificate an endpoint's
	// TLS probe saw expires within the warning threshold
	// (--certificate-expiry-warning), or has expired. Also the reason of
	// the CertificateValid condition while it is False.
	ReasonCertificateExpiring = "CertificateExpiring"
	// ReasonRoleChanged: the endpoints a role's Service publishes changed
	// ("role primary moved from 10.0.0.1 to 10.0.0.2"); one Event for
	// every role that changed in a sync.
	ReasonRoleChanged = "RoleChanged"
	// ReasonRoleConflict: more endpoints pass a role's probe than its
	// maxEndpoints allows, so the role takes in none of them (see
	// status.roles[].message); or a role's Service cannot be written
	// (a foreign Service holds its name). A Warning, once when it starts.
	ReasonRoleConflict = crddemov1.RoleConflict
	// ReasonCertificateValid: every certificate the TLS probes see is
	// valid beyond the threshold again (renewed, or the endpoint that
	// presented the expiring one is gone). Also the reason of the
	// CertificateValid condition while it is True.
	ReasonCertificateValid = "CertificateValid"
)

// Why an address is not published (status.endpoints[].reason) when the
// cluster cannot serve it; pkg/policy's reasons say which address rule
// refused one.
const (
	// ReasonFamilyNotServed: the cluster serves no Service of the
	// address's IP family; the other family is published without it.
	// Exported for pkg/metrics, which counts these apart from the
	// addresses an address rule refused.
	ReasonFamilyNotServed = "FamilyNotServed"
)

// Condition reasons that are not also Event reasons.
const (
	reasonInvalidSpec        = "InvalidSpec"
	reasonPublishing         = "Publishing"
	reasonProbeDisabled      = "ProbeDisabled"
	reasonProbing            = "Probing"
	reasonProbeSucceeded     = "ProbeSucceeded"
	reasonPartiallyReachable = "PartiallyReachable"
	reasonProbeFailed        = "ProbeFailed"
	reasonReady              = "Ready"
	reasonPartiallyReady     = "PartiallyReady"
	reasonFailOpen           = ReasonFailOpen
	reasonNotPublished       = "NotPublished"
	reasonNoEndpoints        = "NoEndpoints"
	reasonAwaitingProbe      = "AwaitingProbe"
	reasonNotReachable       = "Unreachable"
	// The ZoneHints condition (zones.go).
	reasonZoneHintsWritten     = "HintsWritten"
	reasonEndpointsWithoutZone = "EndpointsWithoutZone"
	// reasonHeadlessService: hints are written, but the Mydemo's Service
	// is headless, which neither kube-proxy nor cluster DNS routes by
	// them. (While the slices are not published, the reason is
	// reasonNotPublished.)
	reasonHeadlessService = "HeadlessService"
)

// Event and condition messages, as format strings.
const (
	msgPublished             = "Published as Service %s (cluster IP %s) with %d endpoint(s)"
	msgServiceConflict       = "Service %s exists and is not controlled by this Mydemo; it is left untouched and gets no endpoints from it. Delete or rename it, or rename this Mydemo"
	msgEndpointSliceConflict = "EndpointSlice %s exists and is not controlled by this Mydemo; it is left untouched. Delete it, or rename this Mydemo"
	msgConflictResolved      = "The conflicting object is gone; published as Service %s"
	msgServiceRejected       = "The API server rejected Service %s: %s"
	msgWriteFailed           = "Writing %s %s keeps failing: %s"
	msgWaitingForOldChildren = "%s %s belongs to a deleted Mydemo of this name and is being garbage collected; publishing once it is gone"
	msgPublishing            = "Creating or updating Service %s and its EndpointSlices"
	msgAwaitingDNS           = "Waiting for the first DNS answer for %s"
	msgAnswerTruncated       = "%d addresses of the answer are not published: a Mydemo has at most %d endpoints"
	msgInvalidSpec           = "The spec cannot be published: %s"
	msgReachable             = "%d of %d probed endpoints reachable"
	msgPartiallyReachable    = "%d of %d probed endpoints reachable"
	msgUnreachable           = "No endpoint is reachable: %s: %s (%d of %d unreachable)"
	msgProbeDisabledNone     = "probe.type is None: endpoints are published as ready without probing"
	msgProbeDisabledProtocol = "protocol %s is not probed: endpoints are published as ready without probing"
	msgProbePortUnknown      = "probe.port %s is not a port of this Mydemo: endpoints are published as ready without probing"
	msgProbing               = "Waiting for the first probe of %d endpoint(s)"
	msgNoEndpoints           = "No endpoint can be published: see status.endpoints and status.hostnames"
	msgReady                 = "%d of %d endpoints ready"
	msgPartiallyReady        = "%d of %d endpoints ready"
	msgFailOpen              = "No endpoint passes its probe: all %d published as ready (probe.failOpen)"
	msgNotPublished          = "Not published: %s"
	msgAwaitingProbe         = "Published; waiting for the first probe results"
	// msgSeededNotReady is the verdict of an endpoint whose status said
	// reachable while its slice said not ready when this process started;
	// the next probe replaces it.
	msgSeededNotReady = "not ready in its EndpointSlice when the controller started; waiting for the next probe"
	// msgSeededNotInRole is the role verdict of an endpoint that was not
	// a member of the role, by status and slices, when this process
	// started.
	msgSeededNotInRole      = "not in the role when the controller started; waiting for the next probe"
	msgNotReachable         = "Published, but no endpoint is ready: %s: %s"
	msgEndpointsUnreachable = "Unreachable: %s; %s"
	msgEndpointsReachable   = "Reachable again: %s; %s"
	msgAddressRefused       = "Not published and not probed: %s"
	// A draining endpoint's status message, and the drain Events.
	msgEndpointDraining      = "draining (spec.endpoints[].drain): not ready, so no new connections; established ones continue"
	msgEndpointsDraining     = "Draining, no new connections: %s; %s"
	msgDrainStoppedToo       = "; back in rotation: %s"
	msgEndpointsDrainStopped = "Back in rotation: %s; %s"
	msgNoneReadyDraining     = "No endpoint is ready: %d of %d draining (spec.endpoints[].drain)"
	msgDrainingNote          = " (%d draining)"
	// The CertificateValid condition and its Events: the endpoint, the
	// notAfter and the threshold; a date, not a countdown, so the text
	// does not age.
	msgCertificateExpiring = "The certificate of %s is valid until %s, within the %s warning: renew it"
	msgCertificateValid    = "Every certificate is valid beyond %s; the earliest, of %s, until %s"
	// The ZoneHints condition: the endpoints listed lack spec.endpoints[].zone.
	msgZoneHintsWritten      = "Every ready endpoint is hinted for its own zone (spec.trafficDistribution)"
	msgEndpointsWithoutZone  = "No zone hints are written: ready endpoints without a zone, or with one that is not a label value (spec.endpoints[].zone): %s"
	msgZoneHintsNotPublished = "No zone hints are published: the EndpointSlices are not (see the Published condition)"
	msgHeadlessService       = "Zone hints are written but route nothing: the Service is headless (spec.headless), kube-proxy skips headless Services and cluster DNS answers every ready endpoint whatever its hint"
	msgHeadlessServiceRoles  = msgHeadlessService + "; the Services of spec.roles have a cluster IP and route by them"

	// Roles: status.roles[].message, and the role Events.
	msgRolePortProtocol        = "role %s: probe.port %s is a %s port, and a %s probe needs the other protocol: the role publishes nothing"
	msgRoleNoPort              = "role %s: the Mydemo has no %s port to probe and the role's probe.port is not set: the role publishes nothing"
	msgRolePortUnknown         = "role %s: probe.port %s is not a port of this Mydemo: the role publishes nothing"
	msgRoleReady               = "%d endpoint(s) published in Service %s"
	msgRoleProbing             = "waiting for the role's first probe of %d ready endpoint(s)"
	msgRoleNoEndpoints         = "no ready endpoint passes the probe of role %s"
	msgRoleConflictKept        = "%d endpoints pass the probe of role %s, which publishes at most %d: keeping %s until it fails, taking in no other"
	msgRoleConflictNone        = "%d endpoints pass the probe of role %s, which publishes at most %d: publishing none until no more pass than that"
	msgRoleNotPublished        = "the Mydemo's Service is not published: %s"
	msgRoleAwaitingPublication = "waiting for the Mydemo's Service and its first probes"
	msgRoleMoved               = "role %s moved from %s to %s"
	msgRoleTaken               = "role %s: now %s"
	msgRoleEmptied             = "role %s: %s left it, no endpoint holds it"
	msgRoleChanged             = "role %s: %s (%d endpoint(s))"

	// Why an address is not published: msgRefusedPrefix and the address
	// rule's message (pkg/policy), or msgFamilyNotServed.
	msgRefusedPrefix   = "not published: "
	msgFamilyNotServed = "not published: the cluster serves no %s Services (this Service is %s)"

	// A Service replaced (headless or primary family changed) whose
	// delete a finalizer holds: namespace, name.
	msgReplacedServiceRemains = "Service %s/%s is being replaced but is still there (a finalizer holds its deletion); its replacement is created once it is gone"
)

// publicationOf is the table from the result a of a write that md's
// publication needed and that did not go as planned, to the Published
// condition's reason and message; namespace and svcName name md's Service.
// A transient failure keeps the Publishing reason (it says nothing about
// the Mydemo) until it lasts (sync.go makes it WriteFailed then).
func publicationOf(a applied, namespace, svcName string) (reason, message string) {
	svcKey := namespace + "/" + svcName
	objKey := namespace + "/" + a.name
	switch {
	case a.kind == kindService && a.outcome == foreign:
		return ReasonServiceConflict, fmt.Sprintf(msgServiceConflict, svcKey)
	case a.kind == kindService && a.outcome == oldChild:
		return ReasonWaitingForOldChildren, fmt.Sprintf(msgWaitingForOldChildren, "Service", svcKey)
	case a.kind == kindService && a.outcome == rejected && apierrors.IsForbidden(a.err):
		return ReasonWriteFailed, fmt.Sprintf(msgWriteFailed, "Service", svcKey, apiMessage(a.err))
	case a.kind == kindService && a.outcome == rejected:
		return ReasonServiceRejected, fmt.Sprintf(msgServiceRejected, svcKey, apiMessage(a.err))
	case a.kind == kindEndpointSlice && a.outcome == foreign:
		return ReasonEndpointSliceConflict, fmt.Sprintf(msgEndpointSliceConflict, objKey)
	case a.kind == kindEndpointSlice && a.outcome == oldChild:
		return ReasonWaitingForOldChildren, fmt.Sprintf(msgWaitingForOldChildren, "EndpointSlice", objKey)
	case a.kind == kindEndpointSlice && a.outcome == rejected:
		return ReasonWriteFailed, fmt.Sprintf(msgWriteFailed, "EndpointSlice", objKey, apiMessage(a.err))
	case a.kind == kindEndpointSlice && a.outcome == transient:
		return reasonPublishing, fmt.Sprintf(msgWriteFailed, "EndpointSlice", objKey, "")
	}
	return reasonPublishing, fmt.Sprintf(msgPublishing, svcKey)
}
