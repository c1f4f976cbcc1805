package v1

import (
	"k8s.io/apimachinery/pkg/util/intstr"
)

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

	// port is the port to probe on every endpoint: the name or number of
	// a port in spec.ports (or spec.port). Default: the first TCP port.
	// +optional
	// +kubebuilder:validation:XIntOrString
	Port *intstr.IntOrString `json:"port,omitempty"`

	// failOpen, when true, publishes every endpoint as ready while no
	// endpoint passes its probe (panic mode), on the view that a probe
	// failing everywhere at once is more likely broken than the service.
	// The status says so (Ready reason FailOpen) and a Warning Event is
	// sent. Default false: failing endpoints are not ready.
	// +optional
	FailOpen bool `json:"failOpen,omitempty"`

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
