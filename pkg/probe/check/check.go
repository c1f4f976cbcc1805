package check

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/crddemo/crddemo/pkg/version"
)

// Checker runs one probe of one address. Its deadline is the context's:
// the engine sets it from the probe's timeout, and a Checker never waits
// longer. A nil error means the probe passed. Any other error's Error()
// is a short message in the user's terms that reads the same every time
// the same failure happens (no ports, times or other per-attempt details),
// because it goes into the Mydemo's status, where a changing text would
// cost a write per probe; the cause, with its details, is kept in the
// error chain for logs.
//
// A Checker that makes a TLS handshake also records the earliest notAfter
// of the chain the server presented in the CertRecorder that ctx carries,
// if any (WithCertRecorder; see certexpiry.go for why a recorder and not a
// result): whether the probe passes or not, so an expired certificate is
// reported as well as failed.
//
// A Checker is built once per probe spec and is safe for concurrent use
// by many probes of many addresses.
type Checker interface {
	Check(ctx context.Context, addr netip.AddrPort) error
}

// Kind is the kind of a probe.
type Kind string

// The probe kinds. They spell the same as the API's probe types, but this
// package does not import the API: the controller translates.
const (
	KindTCP   Kind = "TCP"
	KindHTTP  Kind = "HTTP"
	KindHTTPS Kind = "HTTPS"
	KindGRPC  Kind = "GRPC"
	// KindRedis speaks RESP: PING, and ROLE when a role is wanted.
	KindRedis Kind = "Redis"
	// KindPostgres sends a startup message without credentials.
	KindPostgres Kind = "Postgres"
	// KindMySQL reads the server's greeting (MySQL and MariaDB).
	KindMySQL Kind = "MySQL"
	// KindUDP sends a datagram on a connected socket and waits for one.
	KindUDP Kind = "UDP"
	// KindDNS asks one question over UDP.
	KindDNS Kind = "DNS"
)

// Spec says which Checker to build. Only the section of its Kind is read.
// Specs compare with reflect.DeepEqual (or apimachinery's
// equality.Semantic): equal specs build Checkers that do the same.
type Spec struct {
	Kind Kind
	// HTTP is the request of KindHTTP and KindHTTPS; nil means GET / and
	// statuses 200-399.
	HTTP *HTTPSpec
	// GRPC is the request of KindGRPC; nil means the server's overall
	// health, in plain text.
	GRPC *GRPCSpec
	// TCP is what KindTCP sends and expects after connecting; nil, or
	// both empty, means a connect only.
	TCP *TCPSpec
	// Redis is the role KindRedis wants; nil means any role.
	Redis *RedisSpec
	// Postgres names the user and database of KindPostgres's startup
	// message; it is required.
	Postgres *PostgresSpec
	// UDP is the datagram KindUDP sends and what the reply must contain;
	// it is required.
	UDP *UDPSpec
	// DNS is the question of KindDNS; it is required.
	DNS *DNSSpec
	// TLS configures KindHTTPS (nil means verify against the system
	// roots), and KindGRPC, KindTCP and KindRedis (nil means plain text).
	TLS *TLSSpec
}

// New builds the Checker of spec, which opens its connections with dial
// (nil means the probe dialer, NewDialer). It fails only on a spec that
// can never work (such as a CA bundle without a certificate), so that the
// caller can report it once instead of on every probe.
func New(spec Spec, dial DialFunc) (Checker, error) {
	if dial == nil {
		dial = NewDialer().DialContext
	}
	switch spec.Kind {
	case KindTCP:
		return newTCPChecker(spec.TCP, spec.TLS, dial)
	case KindHTTP, KindHTTPS:
		h := HTTPSpec{}
		if spec.HTTP != nil {
			h = *spec.HTTP
		}
		var t *TLSSpec
		if spec.Kind == KindHTTPS {
			t = spec.TLS
			if t == nil {
				t = &TLSSpec{}
			}
		}
		return newHTTPChecker(h, t, dial)
	case KindGRPC:
		g := GRPCSpec{}
		if spec.GRPC != nil {
			g = *spec.GRPC
		}
		return newGRPCChecker(g, spec.TLS, dial)
	case KindRedis:
		return newRedisChecker(spec.Redis, spec.TLS, dial)
	case KindPostgres:
		return newPostgresChecker(spec.Postgres, dial)
	case KindMySQL:
		return &mysqlChecker{dial: dial}, nil
	case KindUDP:
		return newUDPChecker(spec.UDP, dial)
	case KindDNS:
		return newDNSChecker(spec.DNS, dial)
	default:
		return nil, fmt.Errorf("unknown probe kind %q", spec.Kind)
	}
}

// userAgent names the project in HTTP and gRPC probes, so that the
// operators of a target can tell probes from users in their logs.
func userAgent() string {
	return "crddemo-probe/" + version.Version
}
