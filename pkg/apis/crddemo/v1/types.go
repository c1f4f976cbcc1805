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
// +kubebuilder:printcolumn:name="Endpoints",type=string,JSONPath=`.status.endpointsReady`,description="Ready endpoints of all endpoints"
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Roles",type=string,JSONPath=`.status.roleSummary`,description="Each role with its endpoint (or how many it publishes)"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:metadata:annotations="api-approved.kubernetes.io=unapproved, experimental-only"
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 63 && self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be a DNS-1035 label (at most 63 lowercase letters, digits or '-', starting with a letter), because it is also the name of the Service"
// +kubebuilder:validation:XValidation:rule="!has(self.spec.roles) || self.spec.roles.all(r, self.metadata.name.size() + r.name.size() < 63)",message="spec.roles[].name: a role's Service is named <mydemo>-<role>, which must be at most 63 characters: shorten the role's name or the Mydemo's"
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
	// ProtocolTCP is TCP, which every probe type but UDP and DNS checks.
	ProtocolTCP Protocol = "TCP"
	// ProtocolUDP is UDP. A UDP port is checked by a UDP or DNS probe,
	// and published without probing otherwise.
	ProtocolUDP Protocol = "UDP"
	// ProtocolSCTP is SCTP. An SCTP Mydemo is published without probing.
	ProtocolSCTP Protocol = "SCTP"
)

// MydemoSpec is the desired state of a Mydemo.
//
// The address side is either ip (one address) or endpoints (a list of
// addresses and hostnames); the port side is either port and protocol (one
// port) or ports (named ports). Any address form goes with any port form:
// every endpoint serves every port.
//
// +kubebuilder:validation:XValidation:rule="has(self.ip) || has(self.endpoints)",message="set spec.ip (one address) or spec.endpoints (a list of {ip: ...} or {hostname: ...})"
// +kubebuilder:validation:XValidation:rule="!(has(self.ip) && has(self.endpoints))",message="spec.ip and spec.endpoints cannot both be set: move the address into spec.endpoints as {ip: ...} and remove spec.ip"
// +kubebuilder:validation:XValidation:rule="has(self.port) || has(self.ports)",message="set spec.port (one port) or spec.ports (a list of {name, port, protocol})"
// +kubebuilder:validation:XValidation:rule="!(has(self.port) && has(self.ports))",message="spec.port and spec.ports cannot both be set: write every port in spec.ports as {name: ..., port: N} and remove spec.port"
// +kubebuilder:validation:XValidation:rule="!has(self.ports) || self.protocol == 'TCP'",fieldPath=".protocol",message="spec.protocol applies to spec.port only: with spec.ports, set protocol on each port (spec.ports[i].protocol)"
// +kubebuilder:validation:XValidation:rule="has(self.ports) || !has(self.probe) || self.probe.type in ['None', 'UDP', 'DNS'] || self.protocol == 'TCP'",fieldPath=".probe.type",message="a TCP, HTTP, HTTPS, GRPC, Redis, Postgres or MySQL probe needs protocol TCP: for a UDP port use probe.type UDP or DNS; for an SCTP port set probe.type to None, or remove probe"
// +kubebuilder:validation:XValidation:rule="has(self.ports) || !has(self.probe) || !(self.probe.type in ['UDP', 'DNS']) || self.protocol == 'UDP'",fieldPath=".probe.type",message="a UDP or DNS probe needs protocol UDP: set protocol to UDP, or use a TCP probe type for a TCP port"
// +kubebuilder:validation:XValidation:rule="has(self.ports) || !has(self.probe) || !has(self.probe.port) || self.probe.port == self.port",fieldPath=".probe.port",message="must be spec.port: with a single port there is no other port to probe"
// +kubebuilder:validation:XValidation:rule="!has(self.ports) || !has(self.probe) || !has(self.probe.port) || self.ports.exists(p, p.name == self.probe.port || p.port == self.probe.port)",fieldPath=".probe.port",message="must be the name or number of a port in spec.ports"
// +kubebuilder:validation:XValidation:rule="!has(self.ports) || !has(self.probe) || self.probe.type in ['None', 'UDP', 'DNS'] || (has(self.probe.port) ? self.ports.exists(p, (p.name == self.probe.port || p.port == self.probe.port) && p.protocol == 'TCP') : self.ports.exists(p, p.protocol == 'TCP'))",fieldPath=".probe.port",message="the probed port must be a TCP port: name a TCP port in probe.port, use probe.type UDP or DNS for a UDP port, or set probe.type to None"
// +kubebuilder:validation:XValidation:rule="!has(self.ports) || !has(self.probe) || !(self.probe.type in ['UDP', 'DNS']) || (has(self.probe.port) ? self.ports.exists(p, (p.name == self.probe.port || p.port == self.probe.port) && p.protocol == 'UDP') : self.ports.exists(p, p.protocol == 'UDP'))",fieldPath=".probe.port",message="the probed port of a UDP or DNS probe must be a UDP port: name a UDP port in probe.port, or add one to spec.ports"
// +kubebuilder:validation:XValidation:rule="!has(self.roles) || self.roles.all(r, !has(r.probe.port) || type(r.probe.port) != string || (has(self.ports) && self.ports.exists(p, p.name == r.probe.port)))",fieldPath=".roles",message="a role's probe.port names no port of spec.ports: give the port's number (any port, published or not) or the name of a port in spec.ports"
// +kubebuilder:validation:XValidation:rule="!has(self.roles) || !has(self.ports) || self.roles.all(r, !has(r.probe.port) || type(r.probe.port) != string || r.probe.type == 'None' || self.ports.all(p, p.name != r.probe.port || (r.probe.type in ['UDP', 'DNS'] ? p.protocol == 'UDP' : p.protocol == 'TCP')))",fieldPath=".roles",message="a role's probe.port names a port of the wrong protocol: UDP and DNS probes need a UDP port, every other type a TCP port"
type MydemoSpec struct {
	// ip is the address the program listens on: one IPv4 or IPv6 address in
	// canonical form, usable as an EndpointSlice endpoint. Loopback,
	// unspecified, link-local and multicast addresses are rejected, because
	// they mean something different on every node of the cluster.
	// The Service's IP family follows this address. Use endpoints instead
	// for several addresses or for hostnames.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=45
	// +kubebuilder:validation:XValidation:rule="isIP(self)",message="must be a valid IPv4 or IPv6 address, without a zone or prefix length"
	// +kubebuilder:validation:XValidation:rule="!isIP(self) || ip.isCanonical(self)",message="must be written in canonical form (for example 10.0.0.1 or 2001:db8::1)"
	// +kubebuilder:validation:XValidation:rule="!isIP(self) || !ip(self).isLoopback()",message="must not be a loopback address (127.0.0.0/8 or ::1): inside the cluster it would point at each node or Pod itself"
	// +kubebuilder:validation:XValidation:rule="!isIP(self) || !ip(self).isUnspecified()",message="must not be the unspecified address (0.0.0.0 or ::)"
	// +kubebuilder:validation:XValidation:rule="!isIP(self) || !ip(self).isLinkLocalUnicast()",message="must not be a link-local address (169.254.0.0/16 or fe80::/10): it is not routable from the cluster"
	// +kubebuilder:validation:XValidation:rule="!isIP(self) || !ip(self).isLinkLocalMulticast()",message="must not be a link-local multicast address (224.0.0.0/24 or ff02::/16)"
	// +kubebuilder:validation:XValidation:rule="!isIP(self) || ip(self).isLoopback() || ip(self).isUnspecified() || ip(self).isLinkLocalUnicast() || ip(self).isLinkLocalMulticast() || ip(self).isGlobalUnicast()",message="must be a unicast address, not multicast or broadcast"
	IP string `json:"ip,omitempty"`

	// endpoints lists the addresses of the program, each an ip or a
	// hostname (at most 1000). A hostname is resolved by the controller
	// and every address it resolves to becomes an endpoint; it is
	// resolved again every resolvePeriodSeconds. An endpoint is ready
	// only while its own probe passes. With addresses of both families
	// the Service is dual-stack.
	// +optional
	// +listType=map
	// +listMapKey=ip
	// +listMapKey=hostname
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=1000
	// +kubebuilder:validation:XValidation:rule="self.filter(e, has(e.name)).map(e, e.name).distinct().size() == self.filter(e, has(e.name)).size()",message="two endpoints have the same name: each spec.endpoints[].name must be unique in the Mydemo, since it is the endpoint's DNS name"
	Endpoints []Endpoint `json:"endpoints,omitempty"`

	// port is the port the program listens on. Use ports instead for
	// several or named ports.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`

	// protocol is the transport protocol of port, used for the Service
	// and EndpointSlice port: TCP (the default), UDP or SCTP. With ports,
	// each port has its own protocol.
	// +optional
	// +kubebuilder:default=TCP
	Protocol Protocol `json:"protocol,omitempty"`

	// ports lists the ports every endpoint serves (at most 100), each
	// with a name that is unique in the list and becomes the name of the
	// Service port, so Pods can find it through DNS SRV records and
	// other objects can refer to it.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:XValidation:rule="self.all(p, self.exists_one(q, q.port == p.port && q.protocol == p.protocol))",message="two ports have the same port number and protocol: each port/protocol pair may be listed once"
	Ports []Port `json:"ports,omitempty"`

	// resolvePeriodSeconds is how often the hostnames in endpoints are
	// resolved again (default 30). A changed answer changes the endpoints
	// at once.
	// +optional
	// +kubebuilder:validation:Minimum=5
	// +kubebuilder:validation:Maximum=86400
	ResolvePeriodSeconds *int32 `json:"resolvePeriodSeconds,omitempty"`

	// headless publishes the Service without a cluster IP (clusterIP
	// None): cluster DNS then answers the Service's name with the
	// addresses of its ready endpoints, and each named endpoint
	// (endpoints[].name) under its own name, instead of with one virtual
	// IP that kube-proxy balances. A cluster IP cannot be added to or
	// removed from a Service, so changing this replaces the Service.
	// The Services of roles keep their cluster IP: through DNS, clients
	// would keep a failed-over primary for as long as they cache its
	// answer, while kube-proxy moves new connections at once.
	// +optional
	Headless bool `json:"headless,omitempty"`

	// trafficDistribution asks kube-proxy to prefer endpoints in the
	// client's own zone: PreferSameZone (or PreferClose, its older name)
	// is set on the Service, and each ready endpoint's EndpointSlice
	// entry gets a hint for its own zone, as long as every ready endpoint
	// has a zone (endpoints[].zone). Otherwise no hints are written, and
	// the ZoneHints condition names the endpoints without a zone. With
	// headless, the hints are written but route nothing (kube-proxy skips
	// headless Services, cluster DNS ignores hints), and ZoneHints says
	// HeadlessService; the Services of roles have a cluster IP and do
	// route by them.
	// +optional
	// +kubebuilder:validation:Enum=PreferSameZone;PreferClose
	TrafficDistribution *string `json:"trafficDistribution,omitempty"`

	// probe says how the controller checks each endpoint.
	// Without it a TCP port is probed with the defaults below, and a
	// Mydemo with only UDP or SCTP ports is published without probing
	// (probe.type UDP or DNS checks a UDP port).
	// +optional
	Probe *Probe `json:"probe,omitempty"`

	// roles publish the endpoints that pass a probe of their own (the
	// primary, the replicas) as Services of their own, one per role,
	// named <mydemo>-<role>, beside the Mydemo's Service, which keeps
	// every ready endpoint. A role's Service has a cluster IP even when
	// headless is set, so that a failover moves new connections with the
	// slice write rather than after clients' DNS caches expire. At most 4.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=4
	Roles []Role `json:"roles,omitempty"`
}

// DefaultResolvePeriodSeconds is resolvePeriodSeconds when it is unset.
// The CRD does not write it into objects (the field stays unset), so the
// controller applies it; a test holds the field's documentation to it.
const DefaultResolvePeriodSeconds int32 = 30

// Endpoint is one address of the program: exactly one of ip or hostname.
//
// +kubebuilder:validation:XValidation:rule="(self.ip.size() == 0) != (self.hostname.size() == 0)",message="set exactly one of ip or hostname"
type Endpoint struct {
	// ip is an IPv4 or IPv6 address, with the same rules as spec.ip.
	// +optional
	// +kubebuilder:default=""
	// +kubebuilder:validation:MaxLength=45
	// +kubebuilder:validation:XValidation:rule="self == '' || isIP(self)",message="must be a valid IPv4 or IPv6 address, without a zone or prefix length (write a DNS name in hostname instead)"
	// +kubebuilder:validation:XValidation:rule="self == '' || !isIP(self) || ip.isCanonical(self)",message="must be written in canonical form (for example 10.0.0.1 or 2001:db8::1)"
	// +kubebuilder:validation:XValidation:rule="self == '' || !isIP(self) || !ip(self).isLoopback()",message="must not be a loopback address (127.0.0.0/8 or ::1): inside the cluster it would point at each node or Pod itself"
	// +kubebuilder:validation:XValidation:rule="self == '' || !isIP(self) || !ip(self).isUnspecified()",message="must not be the unspecified address (0.0.0.0 or ::)"
	// +kubebuilder:validation:XValidation:rule="self == '' || !isIP(self) || !ip(self).isLinkLocalUnicast()",message="must not be a link-local address (169.254.0.0/16 or fe80::/10): it is not routable from the cluster"
	// +kubebuilder:validation:XValidation:rule="self == '' || !isIP(self) || !ip(self).isLinkLocalMulticast()",message="must not be a link-local multicast address (224.0.0.0/24 or ff02::/16)"
	// +kubebuilder:validation:XValidation:rule="self == '' || !isIP(self) || ip(self).isLoopback() || ip(self).isUnspecified() || ip(self).isLinkLocalUnicast() || ip(self).isLinkLocalMulticast() || ip(self).isGlobalUnicast()",message="must be a unicast address, not multicast or broadcast"
	IP string `json:"ip"`

	// hostname is a DNS name (such as db.example.com) that the controller
	// resolves to the endpoint's addresses, A and AAAA records alike.
	// Every answer goes through the same address rules as ip: an answer
	// that is loopback or link-local is not published, and the status
	// says why.
	// +optional
	// +kubebuilder:default=""
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self == '' || !isIP(self)",message="is an IP address: write it in ip instead"
	// +kubebuilder:validation:XValidation:rule="self == '' || self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\\\\.?$')",message="must be a DNS name of lowercase letters, digits, '-' and '.' (such as db.example.com)"
	Hostname string `json:"hostname"`

	// name is the endpoint's own DNS name under a headless Service: a
	// DNS label (at most 63 lowercase letters, digits or '-'), unique in
	// the Mydemo. It becomes the hostname of the endpoint's EndpointSlice
	// entries, so <name>.<mydemo>.<namespace>.svc.<cluster domain>
	// resolves to its addresses (all of them, for a hostname) while they
	// are ready. Cluster DNS is only bound to serve these names with
	// headless true (CoreDNS answers them for any Service, and answers
	// the reverse lookup of each address with its name).
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="must be a DNS label: lowercase letters, digits and '-', starting and ending with a letter or digit (such as db-0)"
	Name string `json:"name,omitempty"`

	// zone is the topology zone of the endpoint (topology.kubernetes.io/zone
	// of its EndpointSlice entry), for topology-aware routing: a label
	// value, as the nodes' topology.kubernetes.io/zone label it is matched
	// against (a zone hint that is not one is refused by the API server).
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$')",message="must be a label value, as a node's topology.kubernetes.io/zone label (such as eu-west-1a): letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
	Zone string `json:"zone,omitempty"`

	// drain takes the endpoint out of rotation without removing it, for
	// maintenance: it stays in its EndpointSlice with ready false,
	// terminating true and serving set by its probe (true when probing is
	// off), so kube-proxy sends it no new connections while established
	// ones finish. With a hostname, every address of that name drains.
	// The probe keeps running; status.endpoints[].reason says Draining and
	// the endpoint counts as not ready. Setting it back to false returns
	// the endpoint in one EndpointSlice write. When no endpoint of the
	// Mydemo is ready, kube-proxy may still send new connections to a
	// draining endpoint that serves, as it does for terminating Pods.
	// +optional
	Drain bool `json:"drain,omitempty"`
}

// Port is one named port that every endpoint serves.
type Port struct {
	// name is the Service port name: a DNS-1123 label of at most 15
	// characters, unique in spec.ports.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="must be a lowercase DNS label (letters, digits and '-'), such as http or metrics"
	Name string `json:"name"`

	// port is the port number.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`

	// protocol is TCP (the default), UDP or SCTP.
	// +optional
	// +kubebuilder:default=TCP
	Protocol Protocol `json:"protocol,omitempty"`

	// appProtocol is the application protocol of the port (such as http,
	// kubernetes.io/h2c or postgresql), copied to the Service and
	// EndpointSlice ports as a hint for proxies and meshes.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	AppProtocol *string `json:"appProtocol,omitempty"`
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
