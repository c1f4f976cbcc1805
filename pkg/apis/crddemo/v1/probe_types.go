package v1

import (
	"k8s.io/apimachinery/pkg/util/intstr"
)

// ProbeType selects how a Mydemo is checked.
// +kubebuilder:validation:Enum=TCP;HTTP;HTTPS;GRPC;Redis;Postgres;MySQL;UDP;DNS;None
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
	// ProbeTypeRedis sends PING and expects PONG (and, when asked, checks
	// the server's role).
	ProbeTypeRedis ProbeType = "Redis"
	// ProbeTypePostgres sends a PostgreSQL startup message without
	// credentials and expects an authentication request.
	ProbeTypePostgres ProbeType = "Postgres"
	// ProbeTypeMySQL reads the greeting of a MySQL or MariaDB server.
	ProbeTypeMySQL ProbeType = "MySQL"
	// ProbeTypeUDP sends one datagram and expects one back.
	ProbeTypeUDP ProbeType = "UDP"
	// ProbeTypeDNS sends one DNS query over UDP and expects an answer.
	ProbeTypeDNS ProbeType = "DNS"
	// ProbeTypeNone publishes the endpoint as ready without checking it.
	ProbeTypeNone ProbeType = "None"
)

// Probe describes the health check of a Mydemo. Its thresholds mean the same
// as those of a kubelet probe.
//
// The settings of each kind live in a section of their own (tcp, http,
// tls, grpc, redis, postgres, udp, dns), and admission rejects a section
// the chosen type would ignore, so that a typo in type never silently
// turns an HTTP check into a TCP one.
//
// +kubebuilder:validation:XValidation:rule="self.timeoutSeconds <= self.periodSeconds",fieldPath=".timeoutSeconds",message="must not be greater than periodSeconds"
// +kubebuilder:validation:XValidation:rule="!has(self.edgeIntervalSeconds) || self.edgeIntervalSeconds <= self.periodSeconds",fieldPath=".edgeIntervalSeconds",message="must not be greater than periodSeconds"
// +kubebuilder:validation:XValidation:rule="!has(self.tcp) || self.type == 'TCP'",fieldPath=".tcp",message="probe.tcp (send and expect) applies only to probe.type TCP: set the type, or remove probe.tcp"
// +kubebuilder:validation:XValidation:rule="!has(self.http) || self.type == 'HTTP' || self.type == 'HTTPS'",fieldPath=".http",message="probe.http applies only to probe.type HTTP or HTTPS: set the type, or remove probe.http"
// +kubebuilder:validation:XValidation:rule="!has(self.tls) || self.type in ['HTTPS', 'GRPC', 'TCP', 'Redis']",fieldPath=".tls",message="probe.tls applies only to probe.type HTTPS, GRPC, TCP or Redis: use HTTPS instead of HTTP, or remove probe.tls"
// +kubebuilder:validation:XValidation:rule="!has(self.grpc) || self.type == 'GRPC'",fieldPath=".grpc",message="probe.grpc applies only to probe.type GRPC: set the type, or remove probe.grpc"
// +kubebuilder:validation:XValidation:rule="!has(self.redis) || self.type == 'Redis'",fieldPath=".redis",message="probe.redis applies only to probe.type Redis: set the type, or remove probe.redis"
// +kubebuilder:validation:XValidation:rule="!has(self.postgres) || self.type == 'Postgres'",fieldPath=".postgres",message="probe.postgres applies only to probe.type Postgres: set the type, or remove probe.postgres"
// +kubebuilder:validation:XValidation:rule="!has(self.udp) || self.type == 'UDP'",fieldPath=".udp",message="probe.udp applies only to probe.type UDP: set the type, or remove probe.udp"
// +kubebuilder:validation:XValidation:rule="!has(self.dns) || self.type == 'DNS'",fieldPath=".dns",message="probe.dns applies only to probe.type DNS: set the type, or remove probe.dns"
// +kubebuilder:validation:XValidation:rule="self.type != 'UDP' || has(self.udp)",fieldPath=".udp",message="a UDP probe needs probe.udp with send or sendHex: a UDP server answers only what it is sent"
// +kubebuilder:validation:XValidation:rule="self.type != 'DNS' || has(self.dns)",fieldPath=".dns",message="a DNS probe needs probe.dns with the name to ask for"
type Probe struct {
	// type is how each endpoint is checked:
	// TCP (the default) connects to ip:port and closes the connection,
	// or exchanges the bytes in tcp (send, expect), over TLS when tls is
	// set;
	// HTTP sends one request (see http) and passes on an expected status
	// (and, when asked, body);
	// HTTPS does the same over TLS (see tls);
	// GRPC calls grpc.health.v1.Health/Check (see grpc), in plain text,
	// or over TLS when tls is set;
	// Redis sends PING and passes on PONG (see redis; over TLS when tls
	// is set);
	// Postgres sends a startup message without credentials and passes
	// when the server asks for authentication (see postgres);
	// MySQL passes when the server's greeting is a handshake, not an
	// error such as "Too many connections";
	// UDP sends one datagram to a UDP port and passes on a reply (see
	// udp);
	// DNS asks a DNS server over UDP for a name (see dns) and passes on
	// an answer;
	// None publishes the endpoint as ready without checking it.
	// No kind sends credentials.
	// +optional
	// +kubebuilder:default=TCP
	Type ProbeType `json:"type,omitempty"`

	// port is the port to probe on every endpoint: the name or number of
	// a port in spec.ports (or spec.port). Default: the first UDP port
	// for UDP and DNS, the first TCP port for every other type.
	// +optional
	// +kubebuilder:validation:XIntOrString
	Port *intstr.IntOrString `json:"port,omitempty"`

	// tcp is what a TCP probe sends after connecting and what it
	// expects back, each as text or as hex, at most 1 KiB. The response
	// is read until it contains the expectation, the server closes the
	// connection, 4 KiB have arrived or the timeout passes. Default:
	// nothing; the probe only connects (and completes the TLS handshake
	// when tls is set).
	// +optional
	TCP *TCPProbe `json:"tcp,omitempty"`

	// http is the request of an HTTP or HTTPS probe. Default: GET / and
	// a status of 200 to 399 passes.
	// +optional
	HTTP *HTTPProbe `json:"http,omitempty"`

	// tls configures the TLS client of an HTTPS probe, or of a GRPC, TCP
	// or Redis probe, which use TLS only when this is set (write tls: {}
	// for the defaults). Without a caBundle the system's trusted roots
	// are used.
	// +optional
	TLS *ProbeTLS `json:"tls,omitempty"`

	// grpc is the request of a GRPC probe: the standard
	// grpc.health.v1.Health/Check call, which passes when the answer is
	// SERVING.
	// +optional
	GRPC *GRPCProbe `json:"grpc,omitempty"`

	// redis configures a Redis probe, which sends PING and passes on
	// PONG: a server that is loading its dataset, or that requires a
	// password, fails with its own words (no password is ever sent).
	// Default: any role.
	// +optional
	Redis *RedisProbe `json:"redis,omitempty"`

	// postgres configures a Postgres probe, which sends a startup
	// message (protocol 3.0) naming user and database and passes when
	// the server asks for a password (any method) or is ready at once;
	// the probe then closes the connection, never sending a password.
	// An error answer, such as 57P03 "the database system is starting
	// up", fails with its SQLSTATE and the server's words. The server's
	// pg_hba.conf needs a line for this user, database and the
	// controller's address (any method); without one it answers 28000.
	// Default: user and database crddemo-probe.
	// +optional
	Postgres *PostgresProbe `json:"postgres,omitempty"`

	// udp is the datagram a UDP probe sends, on a connected socket, and
	// what the reply must contain, each as text or as hex, at most 1 KiB.
	// A reply passes; an ICMP port unreachable fails at once ("UDP: port
	// unreachable"); silence fails at the timeout ("UDP: no reply").
	// Required for type UDP.
	// +optional
	UDP *UDPProbe `json:"udp,omitempty"`

	// dns is the query of a DNS probe: one question over UDP, with
	// recursion desired. An answer with the response code NOERROR and at
	// least one record of the type asked for passes; another response
	// code (such as SERVFAIL, NXDOMAIN or REFUSED), an answer without
	// such a record, and silence fail, naming what came back. Required
	// for type DNS.
	// +optional
	DNS *DNSProbe `json:"dns,omitempty"`

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

	// edgeIntervalSeconds is how soon an endpoint is probed again after
	// a result that contradicts its verdict (a failure while it is ready,
	// a success while it is not), until failureThreshold or
	// successThreshold results in a row confirm the change, or one
	// result breaks the streak; then probing returns to periodSeconds.
	// The threshold still guards against a single lost probe, while a
	// real change is confirmed in seconds: with the defaults a refused
	// endpoint leaves rotation within periodSeconds + 2 × 1 s instead of
	// 3 × periodSeconds. A streak of contrary results adds at most
	// threshold − 1 probes, and at most one streak starts per period (a
	// target that fails now and then costs that much per period), none
	// at rest. Default 1; at most periodSeconds, where it changes
	// nothing.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=3600
	EdgeIntervalSeconds int32 `json:"edgeIntervalSeconds,omitempty"`

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
//
// +kubebuilder:validation:XValidation:rule="!(has(self.expectBody) && has(self.expectBodyRegex))",fieldPath=".expectBodyRegex",message="expectBody and expectBodyRegex cannot both be set: keep one of them"
// +kubebuilder:validation:XValidation:rule="!(has(self.expectBody) || has(self.expectBodyRegex)) || self.?method.orValue('GET') != 'HEAD'",fieldPath=".method",message="a HEAD request has no body to check: use GET, or remove expectBody and expectBodyRegex"
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

	// expectBody is text the body must contain, besides an expected
	// status, such as "status":"ok". Only the first 4 KiB of the body
	// are read; text that starts later is not found.
	// +optional
	ExpectBody ProbeText `json:"expectBody,omitempty"`

	// expectBodyRegex is a regular expression (RE2 syntax, as Go's
	// regexp package and CEL read it; at most 1 KiB) that must match
	// within the first 4 KiB of the body, besides an expected status,
	// such as "healthy|ok". It is not anchored: write ^ and $ for that.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="size(bytes(self)) <= 1024",message="must be at most 1 KiB (1024 bytes in UTF-8)"
	// +kubebuilder:validation:XValidation:rule="''.matches(self) in [true, false]",message="must be a regular expression in RE2 syntax"
	ExpectBodyRegex string `json:"expectBodyRegex,omitempty"`
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

// ProbeText is text a probe sends or expects: at least one byte, at most
// 1 KiB (1024 bytes of UTF-8), passed on byte for byte. In YAML, a
// double-quoted string takes escapes such as "\r\n" for a line break;
// write binary data as hex instead. MaxLength counts characters, the rule
// bytes.
//
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=1024
// +kubebuilder:validation:XValidation:rule="size(bytes(self)) <= 1024",message="must be at most 1 KiB (1024 bytes in UTF-8)"
type ProbeText string

// ProbeHex is binary data a probe sends or expects, as hex digits, two
// per byte, in upper or lower case, without spaces or 0x (such as
// 0d0a for a line break): at least one byte, at most 1 KiB (2048
// digits).
//
// The bound is the first rule, which says it in bytes; MaxLength only caps
// what the rules are run on (the API server skips the rules of an object
// that fails it, and would then count digits, not bytes).
//
// +kubebuilder:validation:MinLength=2
// +kubebuilder:validation:MaxLength=4096
// +kubebuilder:validation:XValidation:rule="self.size() <= 2048",message="must be at most 1 KiB (2048 hex digits)"
// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9a-fA-F]{2})*$')",message="must be hex digits, two per byte (such as 0d0a), without spaces or 0x"
type ProbeHex string

// TCPProbe is what a TCP probe sends and expects (Probe.TCP says how).
//
// +kubebuilder:validation:XValidation:rule="!(has(self.send) && has(self.sendHex))",fieldPath=".sendHex",message="send and sendHex cannot both be set: write the request once, as text or as hex"
// +kubebuilder:validation:XValidation:rule="!(has(self.expect) && has(self.expectHex))",fieldPath=".expectHex",message="expect and expectHex cannot both be set: write the expectation once, as text or as hex"
type TCPProbe struct {
	// send is text written after connecting, such as "PING\r\n" (in
	// YAML, double quotes make \r\n a line break). Default: nothing.
	// +optional
	Send ProbeText `json:"send,omitempty"`

	// sendHex is send for binary data, as hex digits.
	// +optional
	SendHex ProbeHex `json:"sendHex,omitempty"`

	// expect is text the response must contain, such as "+PONG". It may
	// be set without send, for a server that speaks first (an SMTP
	// server's "220"). Default: any response, or none, passes once the
	// connection is made.
	// +optional
	Expect ProbeText `json:"expect,omitempty"`

	// expectHex is expect for binary data, as hex digits.
	// +optional
	ExpectHex ProbeHex `json:"expectHex,omitempty"`
}

// RedisRole is the replication role a Redis probe requires.
// +kubebuilder:validation:Enum=master;replica
type RedisRole string

const (
	// RedisRoleMaster is a server that accepts writes.
	RedisRoleMaster RedisRole = "master"
	// RedisRoleReplica is a server that replicates a master (ROLE calls
	// it slave).
	RedisRoleReplica RedisRole = "replica"
)

// RedisProbe configures a Redis probe (Probe.Redis says how it checks).
type RedisProbe struct {
	// role, when set, is the replication role the server must report
	// to ROLE: master or replica. A server in the other role is
	// unreachable. Default: any role.
	// +optional
	Role RedisRole `json:"role,omitempty"`
}

// PostgresProbe is the startup message of a Postgres probe (Probe.Postgres
// says how it checks).
type PostgresProbe struct {
	// user is the user named in the startup message (at most 63
	// characters). It needs no privileges. Default crddemo-probe.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="!self.matches('[\\\\x00-\\\\x1f\\\\x7f]')",message="must not contain control characters"
	User string `json:"user,omitempty"`

	// database is the database named in the startup message (at most
	// 63 characters). Default: the same as user, as libpq does.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="!self.matches('[\\\\x00-\\\\x1f\\\\x7f]')",message="must not contain control characters"
	Database string `json:"database,omitempty"`
}

// DefaultPostgresUser is the user a Postgres probe names when
// postgres.user is unset. The CRD does not write it into objects; the
// controller applies it.
const DefaultPostgresUser = "crddemo-probe"

// UDPProbe is what a UDP probe sends and expects (Probe.UDP says how).
//
// +kubebuilder:validation:XValidation:rule="has(self.send) || has(self.sendHex)",fieldPath=".send",message="set send or sendHex: a UDP server answers only what it is sent"
// +kubebuilder:validation:XValidation:rule="!(has(self.send) && has(self.sendHex))",fieldPath=".sendHex",message="send and sendHex cannot both be set: write the datagram once, as text or as hex"
// +kubebuilder:validation:XValidation:rule="!(has(self.expect) && has(self.expectHex))",fieldPath=".expectHex",message="expect and expectHex cannot both be set: write the expectation once, as text or as hex"
type UDPProbe struct {
	// send is the datagram as text, such as "<14>crddemo probe". One of
	// send and sendHex is required.
	// +optional
	Send ProbeText `json:"send,omitempty"`

	// sendHex is the datagram as hex digits, for a binary protocol
	// (an NTP request is 1b followed by 47 zero bytes).
	// +optional
	SendHex ProbeHex `json:"sendHex,omitempty"`

	// expect is text the reply must contain. Default: any reply passes.
	// +optional
	Expect ProbeText `json:"expect,omitempty"`

	// expectHex is expect for binary data, as hex digits.
	// +optional
	ExpectHex ProbeHex `json:"expectHex,omitempty"`
}

// DNSRecordType is the record type a DNS probe asks for.
// +kubebuilder:validation:Enum=A;AAAA
type DNSRecordType string

const (
	// DNSRecordTypeA asks for IPv4 addresses.
	DNSRecordTypeA DNSRecordType = "A"
	// DNSRecordTypeAAAA asks for IPv6 addresses.
	DNSRecordTypeAAAA DNSRecordType = "AAAA"
)

// DNSProbe is the query of a DNS probe (Probe.DNS says how it checks).
type DNSProbe struct {
	// name is the name to ask for, such as example.com or
	// health.example.com. (a trailing dot is allowed; the name is asked
	// as written, without search domains).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=254
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-zA-Z0-9_]([-a-zA-Z0-9_]{0,61}[a-zA-Z0-9_])?(\\\\.[a-zA-Z0-9_]([-a-zA-Z0-9_]{0,61}[a-zA-Z0-9_])?)*\\\\.?$')",message="must be a DNS name (such as example.com): labels of letters, digits, '-' and '_', at most 63 characters each, separated by dots"
	Name string `json:"name"`

	// type is the record type asked for: A (the default) or AAAA.
	// +optional
	Type DNSRecordType `json:"type,omitempty"`
}

// Defaults of the Probe fields. The +kubebuilder:default markers above
// cannot name a constant, so they repeat these numbers, and a test holds
// the generated CRD to them. The API server applies them to every probe a
// Mydemo writes; the controller applies them to a Mydemo without a probe,
// and the prober to a target left at zero.
const (
	DefaultProbePeriodSeconds       int32 = 10
	DefaultProbeEdgeIntervalSeconds int32 = 1
	DefaultProbeTimeoutSeconds      int32 = 1
	DefaultProbeSuccessThreshold    int32 = 1
	DefaultProbeFailureThreshold    int32 = 3
)
