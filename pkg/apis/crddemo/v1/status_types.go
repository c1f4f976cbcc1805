package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition types reported in MydemoStatus.Conditions.
const (
	// ConditionPublished is True when the Service and EndpointSlice exist
	// and match the spec.
	ConditionPublished = "Published"
	// ConditionReachable is True when the probe succeeds, False when it
	// fails, and Unknown before the first result or when probing is off.
	ConditionReachable = "Reachable"
	// ConditionReady is True when the Mydemo is published and reachable (or
	// published with probing off): its endpoint is ready in the cluster.
	ConditionReady = "Ready"
	// ConditionCertificateValid is True while every certificate the
	// endpoints' TLS probes saw is valid for longer than the controller's
	// --certificate-expiry-warning, False (reason CertificateExpiring)
	// once the earliest is closer than that or expired. It is there only
	// when a TLS probe saw a certificate.
	ConditionCertificateValid = "CertificateValid"
	// ConditionZoneHints is there only with spec.trafficDistribution:
	// True while every ready endpoint has a zone, so each carries a hint
	// for it in its EndpointSlice; False (reason EndpointsWithoutZone)
	// while some ready endpoint has none, when no hints are written and
	// the message names those endpoints.
	ConditionZoneHints = "ZoneHints"
)

// MydemoStatus is the observed state of a Mydemo.
type MydemoStatus struct {
	// observedGeneration is the metadata.generation this status was
	// computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions are Published, Reachable and Ready, CertificateValid
	// when a TLS probe saw a certificate, and ZoneHints with
	// spec.trafficDistribution.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// serviceName is the name of the Service that publishes this Mydemo.
	// +optional
	ServiceName string `json:"serviceName,omitempty"`

	// clusterIP is the cluster IP of that Service.
	// +optional
	ClusterIP string `json:"clusterIP,omitempty"`

	// clusterIPs are all cluster IPs of that Service (two when it is
	// dual-stack).
	// +optional
	// +listType=atomic
	ClusterIPs []string `json:"clusterIPs,omitempty"`

	// endpointsReady is readyEndpoints/totalEndpoints, such as "2/3", for
	// kubectl get.
	// +optional
	EndpointsReady string `json:"endpointsReady,omitempty"`

	// readyEndpoints is how many endpoints are ready.
	// +optional
	ReadyEndpoints int32 `json:"readyEndpoints"`

	// totalEndpoints is how many endpoints the spec describes once
	// hostnames are resolved, including those that are not published.
	// +optional
	TotalEndpoints int32 `json:"totalEndpoints"`

	// endpoints is the state of each endpoint address, in the order of
	// spec.endpoints (a hostname's addresses in sorted order).
	// +optional
	// +listType=atomic
	Endpoints []EndpointStatus `json:"endpoints,omitempty"`

	// hostnames is the state of each hostname in spec.endpoints.
	// +optional
	// +listType=atomic
	Hostnames []HostnameStatus `json:"hostnames,omitempty"`

	// roles is the state of each role in spec.roles, in spec order.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=4
	Roles []RoleStatus `json:"roles,omitempty"`

	// roleSummary shows each role at a glance, for kubectl get: the
	// address it publishes when it publishes one, else how many
	// ("primary=10.0.0.1 replica=2").
	// +optional
	RoleSummary string `json:"roleSummary,omitempty"`
}

// Probe verdicts reported in EndpointStatus.Probe.
const (
	// ProbeReachable: the endpoint's probe passes.
	ProbeReachable = "Reachable"
	// ProbeUnreachable: the endpoint's probe fails.
	ProbeUnreachable = "Unreachable"
	// ProbeUnknown: no probe result yet.
	ProbeUnknown = "Unknown"
	// ProbeNotProbed: probing is off (probe.type None, or no TCP port),
	// or the endpoint is not published.
	ProbeNotProbed = "NotProbed"
)

// EndpointStatus is the state of one endpoint address.
type EndpointStatus struct {
	// address is the endpoint's IP address.
	Address string `json:"address"`

	// hostname is the spec.endpoints hostname this address was resolved
	// from, if any.
	// +optional
	Hostname string `json:"hostname,omitempty"`

	// published is true when the address is in the Mydemo's
	// EndpointSlices. An address the controller refuses (such as a
	// hostname answer that is loopback, or an address in the cluster's
	// own networks) is listed with published false, the rule in reason
	// and the details in message. A refused address is never probed.
	Published bool `json:"published"`

	// reason says, in CamelCase, why the address is not published:
	// ClusterNetwork, MetadataAddress, DeniedRange, NotAllowedByPolicy,
	// Loopback, LinkLocal, Unspecified or NotUnicast; or Draining for a
	// published address that spec.endpoints[].drain takes out of rotation.
	// Empty otherwise.
	// +optional
	Reason string `json:"reason,omitempty"`

	// ready is the endpoint's ready condition in its EndpointSlice.
	Ready bool `json:"ready"`

	// probe is the probe verdict: Reachable, Unreachable, Unknown or
	// NotProbed.
	Probe string `json:"probe"`

	// message says why the endpoint is not ready or not published, in
	// the words of the last failed probe or of the rule that refused it.
	// +optional
	Message string `json:"message,omitempty"`

	// lastTransitionTime is when the probe verdict last changed.
	// +optional
	LastTransitionTime *metav1.Time `json:"lastTransitionTime,omitempty"`

	// certificateNotAfter is the earliest notAfter of the certificate
	// chain the endpoint presented to its TLS probe (HTTPS, gRPC, TCP or
	// Redis over TLS), whether it verified or not: an expired
	// certificate is reported here while the probe fails. It is the
	// latest one seen, kept while the endpoint is down; empty for a
	// probe without TLS.
	// +optional
	CertificateNotAfter *metav1.Time `json:"certificateNotAfter,omitempty"`

	// roles are the roles of spec.roles whose Services publish this
	// address.
	// +optional
	// +listType=atomic
	Roles []string `json:"roles,omitempty"`
}

// HostnameStatus is the state of one hostname of spec.endpoints.
type HostnameStatus struct {
	// hostname is the name as written in spec.endpoints.
	Hostname string `json:"hostname"`

	// addresses is how many addresses the last good answer had.
	Addresses int32 `json:"addresses"`

	// resolved is false until the first answer, and after a lookup
	// failure outlived the time the last good answer is kept.
	Resolved bool `json:"resolved"`

	// message describes the last lookup failure, if any, and how long
	// the last good answer is kept.
	// +optional
	Message string `json:"message,omitempty"`
}
