package check

import (
	"crypto/tls"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/crddemo/crddemo/pkg/probe/internal/probetest"
)

// grpcServer starts a gRPC server on loopback, with the standard health
// service when hs is not nil.
func grpcServer(t testing.TB, hs *health.Server, opts ...grpc.ServerOption) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	if hs != nil {
		healthpb.RegisterHealthServer(srv, hs)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return mustAddrPort(t, ln.Addr().String())
}

func TestGRPCCheck(t *testing.T) {
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("my.pkg.Up", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("my.pkg.Down", healthpb.HealthCheckResponse_NOT_SERVING)
	addr := grpcServer(t, hs)
	noHealth := grpcServer(t, nil)

	for _, tc := range []struct {
		name    string
		service string
		target  netip.AddrPort
		want    string
	}{
		{"server SERVING", "", addr, ""},
		{"service SERVING", "my.pkg.Up", addr, ""},
		{"service NOT_SERVING", "my.pkg.Down", addr, "gRPC NOT_SERVING"},
		{"unknown service", "my.pkg.Other", addr, `gRPC: service "my.pkg.Other" unknown to the health service`},
		{"no health service", "", noHealth, "gRPC: no health service"},
		{"refused", "", mustAddrPort(t, probetest.RefusedAddress(t)), "connection refused"},
		{"not gRPC", "", mustAddrPort(t, probetest.Listen(t)), msgGRPCUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewGRPC(GRPCSpec{Service: tc.service}, nil)
			if err != nil {
				t.Fatal(err)
			}
			for range 2 { // the same failure gives the same message
				if got := runCheck(t, c, tc.target); got != tc.want {
					t.Errorf("message %q, want %q", got, tc.want)
				}
			}
		})
	}

	// The verdict follows the health service as it changes.
	c, err := NewGRPC(GRPCSpec{Service: "my.pkg.Up"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hs.SetServingStatus("my.pkg.Up", healthpb.HealthCheckResponse_NOT_SERVING)
	if got := runCheck(t, c, addr); got != "gRPC NOT_SERVING" {
		t.Errorf("after NOT_SERVING: %q", got)
	}
	hs.SetServingStatus("my.pkg.Up", healthpb.HealthCheckResponse_SERVING)
	if got := runCheck(t, c, addr); got != "" {
		t.Errorf("after SERVING again: %q", got)
	}
}

func TestGRPCCheckTLS(t *testing.T) {
	ca := newTestCA(t)
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	cert := ca.issue(t, "grpc.probe.test", time.Now().Add(time.Hour))
	addr := grpcServer(t, hs, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}})))
	plain := grpcServer(t, hs)

	for _, tc := range []struct {
		name   string
		tls    *TLSSpec
		target netip.AddrPort
		want   string
	}{
		{"CA bundle and the IP address", &TLSSpec{CABundle: ca.pem}, addr, ""},
		{"CA bundle and server name", &TLSSpec{ServerName: "grpc.probe.test", CABundle: ca.pem}, addr, ""},
		{"skip verify", &TLSSpec{InsecureSkipVerify: true}, addr, ""},
		{"system roots", &TLSSpec{}, addr, msgUnknownCA},
		{"wrong server name", &TLSSpec{ServerName: "db.probe.test", CABundle: ca.pem}, addr, "TLS: certificate is not valid for db.probe.test"},
		{"TLS to a plain-text server", &TLSSpec{InsecureSkipVerify: true}, plain, msgNotTLS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewGRPC(GRPCSpec{}, tc.tls)
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if got := runCheck(t, c, tc.target); got != tc.want {
					t.Errorf("message %q, want %q", got, tc.want)
				}
			}
		})
	}
}

// TestHTTPAndGRPCChecksLeaveNoTimeWait: HTTP and gRPC probes close with
// the same reset as TCP probes, on both ends of the connection.
func TestHTTPAndGRPCChecksLeaveNoTimeWait(t *testing.T) {
	const probes = 30
	hs := health.NewServer()
	grpcAddr := grpcServer(t, hs)
	grpcChecker, err := NewGRPC(GRPCSpec{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var seen seenRequest
	httpSrv := newStatusServer(t, &seen, func(string) int { return 200 })
	httpChecker, err := NewHTTP(HTTPSpec{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		c    Checker
		addr netip.AddrPort
	}{
		{"HTTP", httpChecker, mustAddrPort(t, httpSrv.Listener.Addr().String())},
		{"GRPC", grpcChecker, grpcAddr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range probes {
				if msg := runCheck(t, tc.c, tc.addr); msg != "" {
					t.Fatal(msg)
				}
			}
			time.Sleep(100 * time.Millisecond)
			if n := countTimeWait(t, tc.addr.Port()); n != 0 {
				t.Errorf("%d sockets in TIME_WAIT after %d probes, want 0", n, probes)
			}
		})
	}
}

// TestChecksConcurrentAndLeakFree: one Checker serves many probes at once
// (the engine shares it between a Mydemo's endpoints), and a gRPC probe
// leaves no goroutine behind once it returns.
func TestChecksConcurrentAndLeakFree(t *testing.T) {
	const workers, rounds = 8, 10
	hs := health.NewServer()
	grpcAddr := grpcServer(t, hs)
	var seen seenRequest
	httpSrv := newStatusServer(t, &seen, func(string) int { return 200 })
	httpAddr := mustAddrPort(t, httpSrv.Listener.Addr().String())
	httpC, err := NewHTTP(HTTPSpec{Headers: []Header{{Name: "X-A", Value: "1"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	grpcC, err := NewGRPC(GRPCSpec{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Let the servers' own goroutines settle before counting.
	runCheck(t, grpcC, grpcAddr)
	runCheck(t, httpC, httpAddr)
	baseline := runtime.NumGoroutine()

	var wg sync.WaitGroup
	errs := make(chan string, workers*rounds*2)
	for range workers {
		wg.Go(func() {
			for range rounds {
				if msg := runCheck(t, httpC, httpAddr); msg != "" {
					errs <- "HTTP: " + msg
				}
				if msg := runCheck(t, grpcC, grpcAddr); msg != "" {
					errs <- "gRPC: " + msg
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Error(msg)
	}
	// Server goroutines of closed connections exit shortly after the
	// reset arrives; the probes' own exit before Check returns.
	probetest.Eventually(t, "goroutines back to the baseline", func() bool {
		return runtime.NumGoroutine() <= baseline+2
	})
}
