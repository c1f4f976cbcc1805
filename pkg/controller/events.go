package controller

// Event reasons. Each names a transition the user should know about; the
// controller never emits an Event when nothing changed.
const (
	// ReasonPublished: the Service and EndpointSlice now publish the Mydemo.
	ReasonPublished = "Published"
	// ReasonServiceConflict: a Service of the Mydemo's name exists and is not
	// controlled by it; it is left alone.
	ReasonServiceConflict = "ServiceConflict"
	// ReasonEndpointSliceConflict: an EndpointSlice of the name the controller
	// needs exists and is not controlled by the Mydemo; it is left alone.
	ReasonEndpointSliceConflict = "EndpointSliceConflict"
	// ReasonConflictResolved: a conflicting object is gone and the Mydemo is
	// published.
	ReasonConflictResolved = "ConflictResolved"
	// ReasonServiceRejected: the API server refused the Service, for example
	// an IPv6 address in a cluster without IPv6 Service CIDRs.
	ReasonServiceRejected = "ServiceRejected"
	// ReasonReachable: the probe now succeeds.
	ReasonReachable = "Reachable"
	// ReasonUnreachable: the probe now fails.
	ReasonUnreachable = "Unreachable"
)

// Condition reasons that are not also Event reasons.
const (
	reasonInvalidSpec    = "InvalidSpec"
	reasonPublishing     = "Publishing"
	reasonProbeDisabled  = "ProbeDisabled"
	reasonProbing        = "Probing"
	reasonProbeSucceeded = "ProbeSucceeded"
	reasonProbeFailed    = "ProbeFailed"
	reasonReady          = "Ready"
	reasonNotPublished   = "NotPublished"
	reasonAwaitingProbe  = "AwaitingProbe"
	reasonNotReachable   = "Unreachable"
)

// Event and condition messages, as format strings.
const (
	msgPublished             = "Published as Service %s (cluster IP %s) with endpoint %s"
	msgServiceConflict       = "Service %s exists and is not controlled by this Mydemo; it is left untouched. Delete or rename it, or rename this Mydemo"
	msgEndpointSliceConflict = "EndpointSlice %s exists and is not controlled by this Mydemo; it is left untouched. Delete it, or rename this Mydemo"
	msgConflictResolved      = "The conflicting object is gone; published as Service %s"
	msgServiceRejected       = "The API server rejected Service %s: %s"
	msgPublishing            = "Creating or updating Service %s and its EndpointSlice"
	msgInvalidSpec           = "spec.ip %q cannot be published as an endpoint address"
	msgReachable             = "TCP connect to %s succeeded"
	msgUnreachable           = "TCP connect to %s failed: %s"
	msgProbeDisabledNone     = "probe.type is None: the endpoint is published as ready without probing"
	msgProbeDisabledProtocol = "protocol %s is not probed: the endpoint is published as ready without probing"
	msgProbing               = "Waiting for the first probe of %s"
	msgReady                 = "The endpoint %s is ready"
	msgReadyUnprobed         = "The endpoint %s is ready (not probed)"
	msgNotPublished          = "Not published: %s"
	msgAwaitingProbe         = "Published; waiting for the first probe result"
	msgNotReachable          = "Published, but the endpoint is not ready: %s"
)
