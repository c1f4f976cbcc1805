package v1

// MaxRoles is the most roles a Mydemo has. Each costs a Service, its
// slices and a probe per endpoint, and lists itself in the status of every
// endpoint it publishes, which must fit in the object beside the rest
// (see the controller's TestWorstCaseStatusSize).
const MaxRoles = 4

// MaxListedRoleEndpoints is the most addresses RoleStatus.Endpoints lists.
const MaxListedRoleEndpoints = 16

// Role publishes the endpoints that pass a probe of their own, such as
// "the primary" or "the replicas" of a database, as a Service of their
// own, named <mydemo>-<role>. An endpoint belongs to a role while it is
// ready in the Mydemo's Service (its own probe passes and it is not
// draining) and the role's probe passes too.
//
// +kubebuilder:validation:XValidation:rule="!has(self.probe.failOpen) || !self.probe.failOpen",fieldPath=".probe.failOpen",message="failOpen applies to spec.probe only: a role never publishes an endpoint whose role probe fails"
// +kubebuilder:validation:XValidation:rule="!has(self.probe.port) || type(self.probe.port) == string || (self.probe.port >= 1 && self.probe.port <= 65535)",fieldPath=".probe.port",message="must be a port number from 1 to 65535, or the name of a port in spec.ports"
type Role struct {
	// name is the role's name, a DNS label of at most 15 characters such
	// as primary, master or replica. The role's Service is named
	// <mydemo>-<name>, which must be at most 63 characters.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",message="must be a DNS-1035 label (lowercase letters, digits and '-', starting with a letter), such as primary or replica"
	Name string `json:"name"`

	// probe is the role's check, of any type, with the same fields and
	// defaults as spec.probe (but failOpen). Its port may be a port the
	// Mydemo does not publish, such as the REST API of Patroni on 8008:
	// a number is probed as it is, a name must be a port of spec.ports.
	// Default port: as for spec.probe, the first TCP port (UDP for a UDP
	// or DNS probe). Type None puts every ready endpoint in the role.
	// +required
	Probe Probe `json:"probe"`

	// maxEndpoints is the most endpoints the role publishes at once, such
	// as 1 for a primary that takes writes. It counts hosts: the IPv4
	// and IPv6 address of one hostname are one endpoint. While more
	// endpoints pass than allowed, the role takes in none of the
	// newcomers: it keeps those it publishes that still pass, publishes
	// none if it had none, and says RoleConflict in status and a Warning
	// Event. While endpoints still wait for their first verdict and
	// could make more pass than allowed, it takes in none either.
	// Default: no limit.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	MaxEndpoints *int32 `json:"maxEndpoints,omitempty"`
}

// Reasons in RoleStatus.Reason.
const (
	// RoleReady: the role publishes at least one endpoint.
	RoleReady = "Ready"
	// RoleNoEndpoints: no ready endpoint passes the role's probe.
	RoleNoEndpoints = "NoEndpoints"
	// RoleProbing: some ready endpoint has no role verdict yet and none
	// is published.
	RoleProbing = "Probing"
	// RoleConflict: more endpoints pass the role's probe than
	// maxEndpoints allows.
	RoleConflict = "RoleConflict"
	// RoleNotPublished: the role's Service cannot be written (see
	// message), or the Mydemo's own Service is not published.
	RoleNotPublished = "NotPublished"
	// RoleProbePortUnknown: the role's probe names a port the Mydemo
	// does not have, or one of the wrong protocol (an object stored
	// before admission checked it).
	RoleProbePortUnknown = "ProbePortUnknown"
)

// RoleStatus is the state of one role of spec.roles.
type RoleStatus struct {
	// name is the role's name.
	Name string `json:"name"`

	// serviceName is the role's Service, <mydemo>-<role>.
	ServiceName string `json:"serviceName"`

	// endpoints are the addresses the role's Service publishes, in the
	// order of status.endpoints: the first 16 (status.endpoints[].roles
	// lists every member).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Endpoints []string `json:"endpoints,omitempty"`

	// ready is how many endpoints the role's Service publishes.
	Ready int32 `json:"ready"`

	// passing is how many ready endpoints pass the role's probe; more
	// than endpoints while the role is in conflict.
	Passing int32 `json:"passing"`

	// reason is Ready, NoEndpoints, Probing, RoleConflict, NotPublished
	// or ProbePortUnknown.
	Reason string `json:"reason"`

	// message says the same in words.
	// +optional
	Message string `json:"message,omitempty"`
}
