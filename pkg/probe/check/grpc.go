package check

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// maxGRPCResponseBytes bounds the health answer, which is a few bytes.
const maxGRPCResponseBytes = 1 << 10

// GRPCSpec is the request of a gRPC probe.
type GRPCSpec struct {
	// Service is the service name to ask the health service about;
	// empty means the server as a whole.
	Service string
}

// grpcChecker calls grpc.health.v1.Health/Check on a fresh connection.
type grpcChecker struct {
	service string
	dial    DialFunc
	// creds is nil for plain text.
	creds credentials.TransportCredentials
}

// NewGRPC returns a Checker that calls the standard
// grpc.health.v1.Health/Check and passes on SERVING. With tlsSpec != nil
// it speaks TLS (the server name defaults to the probed IP address),
// otherwise plain text. Each probe is one connection, closed with a reset
// (see NewDialer), and one call, without retries.
func NewGRPC(spec GRPCSpec, tlsSpec *TLSSpec) (Checker, error) {
	return newGRPCChecker(spec, tlsSpec, NewDialer().DialContext)
}

func newGRPCChecker(spec GRPCSpec, tlsSpec *TLSSpec, dial DialFunc) (Checker, error) {
	c := &grpcChecker{service: spec.Service, dial: dial}
	if tlsSpec != nil {
		cfg, err := tlsSpec.clientConfig("", []string{"h2"})
		if err != nil {
			return nil, err
		}
		c.creds = credentials.NewTLS(cfg)
	}
	return c, nil
}

func (c *grpcChecker) Check(ctx context.Context, addr netip.AddrPort) error {
	// gRPC turns connection failures into an Unavailable status whose
	// text holds addresses; the dialer and the handshake record the
	// failure itself, so the message can name it.
	var rec failureRecord
	var creds credentials.TransportCredentials = insecure.NewCredentials()
	if c.creds != nil {
		creds = &recordingCreds{TransportCredentials: c.creds, rec: &rec, certs: certRecorderOf(ctx)}
	}
	cc, err := grpc.NewClient("passthrough:///"+addr.String(),
		grpc.WithTransportCredentials(creds),
		grpc.WithContextDialer(func(ctx context.Context, address string) (net.Conn, error) {
			conn, err := c.dial(ctx, "tcp", address)
			rec.set(err)
			return conn, err
		}),
		grpc.WithUserAgent(userAgent()),
		grpc.WithDisableRetry(),
		grpc.WithDisableServiceConfig(),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxGRPCResponseBytes)),
	)
	if err != nil {
		return &Error{Message: "gRPC: " + err.Error(), Err: err}
	}
	defer func() { _ = cc.Close() }()

	resp, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{Service: c.service})
	if err != nil {
		if cause := rec.get(); cause != nil {
			return wrapError(cause)
		}
		return c.callError(ctx, err)
	}
	switch resp.GetStatus() {
	case healthpb.HealthCheckResponse_SERVING:
		return nil
	case healthpb.HealthCheckResponse_NOT_SERVING:
		return &Error{Message: msgNotServing}
	default:
		return &Error{Message: "gRPC " + resp.GetStatus().String()}
	}
}

// callError names a failed call by its status code; the status text is
// left out of the message because it may change from call to call.
func (c *grpcChecker) callError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return wrapError(ctx.Err())
	}
	st := status.Convert(err)
	switch st.Code() {
	case codes.Unimplemented:
		return &Error{Message: msgNoHealthService, Err: err}
	case codes.NotFound:
		return &Error{Message: fmt.Sprintf("gRPC: service %q unknown to the health service", c.service), Err: err}
	case codes.Unavailable:
		// The connection was made (a failed dial or handshake is
		// reported above) but no HTTP/2 answer came.
		return &Error{Message: msgGRPCUnavailable, Err: err}
	case codes.DeadlineExceeded:
		return &Error{Message: msgTimeout, Err: err}
	default:
		return &Error{Message: "gRPC error " + st.Code().String(), Err: err}
	}
}

// failureRecord keeps the first connection failure of one probe.
type failureRecord struct {
	mu  sync.Mutex
	err error
}

func (r *failureRecord) set(err error) {
	if err == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		r.err = err
	}
}

func (r *failureRecord) get() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// recordingCreds are TLS credentials that record a failed handshake, and
// the chain the server presented in the probe's CertRecorder (gRPC runs
// the handshake with a context of its own, which does not carry the
// probe's values, so the recorder is taken from the probe's context when
// the credentials are made).
type recordingCreds struct {
	credentials.TransportCredentials
	rec   *failureRecord
	certs *CertRecorder
}

func (c *recordingCreds) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	tlsConn, info, err := c.TransportCredentials.ClientHandshake(ctx, authority, conn)
	c.rec.set(err)
	if tlsInfo, ok := info.(credentials.TLSInfo); ok && err == nil {
		c.certs.recordHandshake(&tlsInfo.State, nil)
	} else {
		c.certs.recordHandshake(nil, err)
	}
	return tlsConn, info, err
}

func (c *recordingCreds) Clone() credentials.TransportCredentials {
	return &recordingCreds{TransportCredentials: c.TransportCredentials.Clone(), rec: c.rec, certs: c.certs}
}
