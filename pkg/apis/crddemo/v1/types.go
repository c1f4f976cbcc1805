package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Mydemo declares a program that listens at ip:port, usually outside the
// cluster (a VM, a database). The controller publishes it inside the cluster
// as a selector-less Service with an EndpointSlice, probes it, and marks the
// endpoint ready only while the program answers.
//
// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:path=mydemos,singular=mydemo,shortName=md,categories=crddemo
// +kubebuilder:printcolumn:name="IP",type=string,JSONPath=`.spec.ip`
// +kubebuilder:printcolumn:name="Port",type=integer,JSONPath=`.spec.port`
// +kubebuilder:printcolumn:name="Protocol",type=string,JSONPath=`.spec.protocol`
// +kubebuilder:printcolumn:name="Cluster-IP",type=string,JSONPath=`.status.clusterIP`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:metadata:annotations="api-approved.kubernetes.io=unapproved, experimental-only"
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 63 && self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be a DNS-1035 label (at most 63 lowercase letters, digits or '-', starting with a letter), because it is also the name of the Service"
type Mydemo struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata. The Service the controller creates has the
	// same name and namespace.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares where the program listens and how to check it.
	// +required
	Spec MydemoSpec `json:"spec"`

	// status is what the controller last observed. It is written only by the
	// controller, through the status subresource.
	// +optional
	Status MydemoStatus `json:"status,omitempty"`
}

// Protocol is the transport protocol of the published port.
// +kubebuilder:validation:Enum=TCP;UDP;SCTP
type Protocol string

const (
	// ProtocolTCP is TCP. It is the only protocol that can be probed.
	ProtocolTCP Protocol = "TCP"
	// ProtocolUDP is UDP. A UDP Mydemo is published without probing.
	ProtocolUDP Protocol = "UDP"
	// ProtocolSCTP is SCTP. An SCTP Mydemo is published without probing.
	ProtocolSCTP Protocol = "SCTP"
)

// MydemoSpec is the desired state of a Mydemo.
//
// +kubebuilder:validation:XValidation:rule="!has(self.probe) || self.probe.type != 'TCP' || self.protocol == 'TCP'",fieldPath=".probe.type",message="a TCP probe needs protocol TCP: set probe.type to None, or remove probe, for a UDP or SCTP port"
type MydemoSpec struct {
	// ip is the address the program listens on: one IPv4 or IPv6 address in
	// canonical form, usable as an EndpointSlice endpoint. Loopback,
	// unspecified, link-local and multicast addresses are rejected, because
	// they mean something different on every node of the cluster.
	// The Service's IP family follows this address.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=45
	// +kubebuilder:validation:XValidation:rule="isIP(self)",message="must be a valid IPv4 or IPv6 address, without a zone or prefix length"
	// +kubebuilder:validation:XValidation:rule="!isIP(self) || ip.isCanonical(self)",message="must be written in canonical form (for example 10.0.0.1 or 2001:db8::1)"
	// +kubebuilder:validation:XValidation:rule="!isIP(self) || !ip(self).isLoopback()",message="must not be a loopback address (127.0.0.0/8 or ::1): inside the cluster it would point at each node or Pod itself"
	// +kubebuilder:validation:XValidation:rule="!isIP(self) || !ip(self).isUnspecified()",message="must not be the unspecified address (0.0.0.0 or ::)"
	// +kubebuilder:validation:XValidation:rule="!isIP(self) || !ip(self).isLinkLocalUnicast()",message="must not be a link-local address (169.254.0.0/16 or fe80::/10): it is not routable from the cluster"
	// +kubebuilder:validation:XValidation:rule="!isIP(self) || !ip(self).isLinkLocalMulticast()",message="must not be a link-local multicast address (224.0.0.0/24 or ff02::/16)"
	// +kubebuilder:validation:XValidation:rule="!isIP(self) || ip(self).isLoopback() || ip(self).isUnspecified() || ip(self).isLinkLocalUnicast() || ip(self).isLinkLocalMulticast() || ip(self).isGlobalUnicast()",message="must be a unicast address, not multicast or broadcast"
	IP string `json:"ip"`

	// port is the port the program listens on.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`

	// protocol is the transport protocol of the port, used for the Service
	// and EndpointSlice port: TCP (the default), UDP or SCTP.
	// +optional
	// +kubebuilder:default=TCP
	Protocol Protocol `json:"protocol,omitempty"`

	// probe says how the controller checks that the program answers.
	// Without it a TCP port is probed with the defaults below, and a UDP or
	// SCTP port is published without probing.
	// +optional
	Probe *Probe `json:"probe,omitempty"`
}

// ProbeType selects how a Mydemo is checked.
// +kubebuilder:validation:Enum=TCP;None
type ProbeType string

const (
	// ProbeTypeTCP opens a TCP connection to ip:port and closes it at once.
	ProbeTypeTCP ProbeType = "TCP"
	// ProbeTypeNone publishes the endpoint as ready without checking it.
	ProbeTypeNone ProbeType = "None"
)

// Probe describes the health check of a Mydemo. Its thresholds mean the same
// as those of a kubelet probe.
//
// +kubebuilder:validation:XValidation:rule="self.timeoutSeconds <= self.periodSeconds",fieldPath=".timeoutSeconds",message="must not be greater than periodSeconds"
type Probe struct {
	// type is TCP (the default: connect to ip:port) or None (publish the
	// endpoint as ready without checking it).
	// +optional
	// +kubebuilder:default=TCP
	Type ProbeType `json:"type,omitempty"`

	// periodSeconds is how often to probe, in seconds. Default 10.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=3600
	PeriodSeconds int32 `json:"periodSeconds,omitempty"`

	// timeoutSeconds is how long one connection attempt may take, in
	// seconds. Default 1; at most periodSeconds.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=3600
	TimeoutSeconds int32 `json:"timeoutSeconds,omitempty"`

	// successThreshold is how many consecutive successes make an
	// unreachable program reachable again. Default 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	SuccessThreshold int32 `json:"successThreshold,omitempty"`

	// failureThreshold is how many consecutive failures make a reachable
	// program unreachable. Default 3.
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	FailureThreshold int32 `json:"failureThreshold,omitempty"`
}

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
)

// MydemoStatus is the observed state of a Mydemo.
type MydemoStatus struct {
	// observedGeneration is the metadata.generation this status was
	// computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions are Published, Reachable and Ready.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// serviceName is the name of the Service that publishes this Mydemo.
	// +optional
	ServiceName string `json:"serviceName,omitempty"`

	// clusterIP is the cluster IP of that Service.
	// +optional
	ClusterIP string `json:"clusterIP,omitempty"`
}

// MydemoList is a list of Mydemo.
//
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
type MydemoList struct {
	metav1.TypeMeta `json:",inline"`
	// Standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`

	// items are the Mydemos.
	Items []Mydemo `json:"items"`
}
