package v1

import (
	"k8s.io/apimachinery/pkg/util/intstr"
)

// ProbeType selects how a Mydemo is checked.
// +kubebuilder:validation:Enum=TCP;HTTP;HTTPS;GRPC;None
type ProbeType string

const (
	// ProbeTypeTCP opens a TCP connection to ip:port and closes it at once.
	ProbeTypeTCP ProbeType = "TCP"
	// ProbeTypeHTTP sends one HTTP/1.1 request and judges the status code.
	ProbeTypeHTTP ProbeType = "HTTP"
	// ProbeTypeHTTPS is ProbeTypeHTTP over TLS.
	ProbeTypeHTTPS ProbeType = "HTTPS"
	// ProbeTypeGRPC calls the standard grpc.health.v1.Health/Check.
	ProbeTypeGRPC ProbeType = "GRPC"
	// ProbeTypeNone publishes the endpoint as ready without checking it.
	ProbeTypeNone ProbeType = "None"
)

// Probe describes the health check of a Mydemo. Its thresholds mean the same
// as those of a kubelet probe.
//
// The settings of each kind live in a section of their own (http, tls,
// grpc), and admission rejects a section the chosen type would ignore, so
// that a typo in type never silently turns an HTTP check into a TCP one.
//
// +kubebuilder:validation:XValidation:rule="self.timeoutSeconds <= self.periodSeconds",fieldPath=".timeoutSeconds",message="must not be greater than periodSeconds"
// +kubebuilder:validation:XValidation:rule="!has(self.http) || self.type == 'HTTP' || self.type == 'HTTPS'",fieldPath=".http",message="probe.http applies only to probe.type HTTP or HTTPS: set the type, or remove probe.http"
// +kubebuilder:validation:XValidation:rule="!has(self.tls) || self.type == 'HTTPS' || self.type == 'GRPC'",fieldPath=".tls",message="probe.tls applies only to probe.type HTTPS or GRPC: use HTTPS instead of HTTP, or remove probe.tls"
// +kubebuilder:validation:XValidation:rule="!has(self.grpc) || self.type == 'GRPC'",fieldPath=".grpc",message="probe.grpc applies only to probe.type GRPC: set the type, or remove probe.grpc"
type Probe struct {
	// type is how each endpoint is checked:
	// TCP (the default) connects to ip:port and closes the connection;
	// HTTP sends one request (see http) and passes on an expected status;
	// HTTPS does the same over TLS (see tls);
	// GRPC calls grpc.health.v1.Health/Check (see grpc), in plain text,
	// or over TLS when tls is set;
	// None publishes the endpoint as ready without checking it.
	// +optional
	// +kubebuilder:default=TCP
	Type ProbeType `json:"type,omitempty"`

	// port is the port to probe on every endpoint: the name or number of
	// a port in spec.ports (or spec.port). Default: the first TCP port.
	// +optional
	// +kubebuilder:validation:XIntOrString
	Port *intstr.IntOrString `json:"port,omitempty"`

	// http is the request of an HTTP or HTTPS probe. Default: GET / and
	// a status of 200 to 399 passes.
	// +optional
	HTTP *HTTPProbe `json:"http,omitempty"`

	// tls configures the TLS client of an HTTPS probe, or of a GRPC probe,
	// which uses TLS only when this is set (write tls: {} for the
	// defaults). Without a caBundle the system's trusted roots are used.
	// +optional
	TLS *ProbeTLS `json:"tls,omitempty"`

	// grpc is the request of a GRPC probe: the standard
	// grpc.health.v1.Health/Check call, which passes when the answer is
	// SERVING.
	// +optional
	GRPC *GRPCProbe `json:"grpc,omitempty"`

	// failOpen, when true, publishes every endpoint as ready while none
	// of them passes its probe, and says so in status (a reason and a
	// Warning Event). It is a panic mode for a probe that is broken
	// rather than a service that is down: traffic keeps flowing to all
	// endpoints instead of to none. As soon as one endpoint passes, only
	// passing endpoints are ready again. Default false.
	// +optional
	FailOpen bool `json:"failOpen,omitempty"`

	// periodSeconds is how often to probe, in seconds. Default 10.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=3600
	PeriodSeconds int32 `json:"periodSeconds,omitempty"`

	// timeoutSeconds is how long one probe may take, in seconds, from
	// the connection attempt to the answer. Default 1; at most
	// periodSeconds.
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

// HTTPMethod is the method of an HTTP probe request.
// +kubebuilder:validation:Enum=GET;HEAD
type HTTPMethod string

const (
	// HTTPMethodGet is GET.
	HTTPMethodGet HTTPMethod = "GET"
	// HTTPMethodHead is HEAD: the same answer without a body.
	HTTPMethodHead HTTPMethod = "HEAD"
)

// HTTPProbe is the request of an HTTP or HTTPS probe. Every probe uses a
// fresh connection, sends one request, follows no redirect (a 3xx answer
// is judged by expectedStatuses like any other) and reads at most a few
// kilobytes of the body.
type HTTPProbe struct {
	// method is GET (the default) or HEAD.
	// +optional
	// +kubebuilder:default=GET
	Method HTTPMethod `json:"method,omitempty"`

	// path is the path and query of the request, such as /healthz or
	// /ready?verbose=1. Default /.
	// +optional
	// +kubebuilder:default="/"
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.matches('^/[!-~]*$')",message="must start with '/' and hold only printable ASCII without spaces (percent-encode anything else), such as /healthz"
	Path string `json:"path,omitempty"`

	// host is the Host header of the request, such as api.example.com or
	// api.example.com:8443. Default: the endpoint's ip:port. For HTTPS,
	// its name is also the TLS server name unless tls.serverName is set.
	// +optional
	// +kubebuilder:validation:MaxLength=259
	// +kubebuilder:validation:XValidation:rule="self.matches('^([a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?(\\\\.[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?)*|\\\\[[0-9a-fA-F:.]+\\\\])(:[0-9]{1,5})?$')",message="must be a DNS name or an IP address, with an optional :port (such as api.example.com or api.example.com:8443)"
	Host string `json:"host,omitempty"`

	// headers are extra request headers (at most 16), such as an
	// Authorization header the health path needs. Set the Host header
	// in host instead. A User-Agent given here replaces the controller's
	// own (crddemo-probe/<version>).
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Headers []HTTPHeader `json:"headers,omitempty"`

	// expectedStatuses lists the status code ranges that pass (at most
	// 10). Default: one range, 200 to 399, as kubelet. A redirect is not
	// followed: list 3xx codes here to accept them, or leave them out to
	// fail on them.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=10
	// +kubebuilder:default={{min:200,max:399}}
	ExpectedStatuses []StatusRange `json:"expectedStatuses,omitempty"`
}

// HTTPHeader is one extra header of an HTTP probe request.
type HTTPHeader struct {
	// name is the header name, such as Authorization or X-Probe.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:XValidation:rule="self.matches('^[-!#$%&\\'*+.^_`|~0-9A-Za-z]+$')",message="must be an HTTP header name (letters, digits and !#$%&'*+-.^_`|~)"
	// +kubebuilder:validation:XValidation:rule="!(self.lowerAscii() in ['host', 'content-length', 'transfer-encoding', 'connection'])",message="is set by the probe itself: use probe.http.host for the Host header"
	Name string `json:"name"`

	// value is the header value.
	// +required
	// +kubebuilder:validation:MaxLength=4096
	// +kubebuilder:validation:XValidation:rule="!self.matches('[\\\\x00-\\\\x08\\\\x0a-\\\\x1f\\\\x7f]')",message="must not contain control characters such as line breaks"
	Value string `json:"value"`
}

// StatusRange is a range of HTTP status codes, both ends included. A
// single code is written {min: 204} or {min: 204, max: 204}.
//
// +kubebuilder:validation:XValidation:rule="!has(self.max) || self.min <= self.max",fieldPath=".max",message="must not be less than min"
type StatusRange struct {
	// min is the lowest status code of the range (100 to 599).
	// +required
	// +kubebuilder:validation:Minimum=100
	// +kubebuilder:validation:Maximum=599
	Min int32 `json:"min"`

	// max is the highest status code of the range (100 to 599).
	// Default: min, so the range is one code.
	// +optional
	// +kubebuilder:validation:Minimum=100
	// +kubebuilder:validation:Maximum=599
	Max *int32 `json:"max,omitempty"`
}

// ProbeTLS configures the TLS client of a probe. Client certificates are
// not supported.
//
// +kubebuilder:validation:XValidation:rule="!(has(self.caBundle) && has(self.insecureSkipVerify) && self.insecureSkipVerify)",fieldPath=".caBundle",message="has no effect with insecureSkipVerify: remove one of them"
type ProbeTLS struct {
	// serverName is the name sent in SNI and checked against the
	// server's certificate. Default: the name in http.host, or else the
	// endpoint's IP address (which the certificate must then list).
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?(\\\\.[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?)*$') || isIP(self)",message="must be a DNS name (such as api.example.com) or an IP address"
	ServerName string `json:"serverName,omitempty"`

	// caBundle holds the PEM-encoded CA certificates that may sign the
	// server's certificate, written inline as admission webhooks'
	// caBundle is (but as text, not base64), at most 64 KiB. Default:
	// the system's trusted roots.
	// +optional
	// +kubebuilder:validation:MaxLength=65536
	// +kubebuilder:validation:XValidation:rule="self.matches('^\\\\s*(-----BEGIN CERTIFICATE-----[\\\\sA-Za-z0-9+/=]+-----END CERTIFICATE-----\\\\s*)+$')",message="must be one or more PEM certificates, each from -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----, with nothing else around them"
	CABundle string `json:"caBundle,omitempty"`

	// insecureSkipVerify, when true, accepts any certificate: the probe
	// then checks only that the server speaks TLS. Default false.
	// +optional
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
}

// GRPCProbe is the request of a GRPC probe: the standard
// grpc.health.v1.Health/Check call, which passes when the answer is
// SERVING.
type GRPCProbe struct {
	// service is the service name to ask about, as registered with the
	// server's health service. Default: empty, the server as a whole.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Service string `json:"service,omitempty"`
}

// Defaults of the Probe fields. The +kubebuilder:default markers above
// cannot name a constant, so they repeat these numbers, and a test holds
// the generated CRD to them. The API server applies them to every probe a
// Mydemo writes; the controller applies them to a Mydemo without a probe,
// and the prober to a target left at zero.
const (
	DefaultProbePeriodSeconds    int32 = 10
	DefaultProbeTimeoutSeconds   int32 = 1
	DefaultProbeSuccessThreshold int32 = 1
	DefaultProbeFailureThreshold int32 = 3
)
