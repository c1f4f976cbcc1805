package check

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/crddemo/crddemo/pkg/probe/internal/probetest"
)

// The BenchmarkCheck* benchmarks run one probe after another against a
// loopback server in the same process. ns/op is the wall time of one
// probe; cpu-ns/op is the CPU time of the whole process per probe, so it
// includes the server's share and is an upper bound of the prober's.
// allocs/op and B/op count the prober's side and the server's alike.

func benchCheck(b *testing.B, c Checker, addr netip.AddrPort) {
	b.Helper()
	ctx := context.Background()
	// Warm up: first-use costs (TLS tables, gRPC registries) are not
	// per probe.
	for range 10 {
		if err := checkOnce(ctx, c, addr); err != nil {
			b.Fatal(err)
		}
	}
	start := cpuTime(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := checkOnce(ctx, c, addr); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime(b)-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

func checkOnce(ctx context.Context, c Checker, addr netip.AddrPort) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return c.Check(ctx, addr)
}

// cpuTime is the user and system CPU time of the process so far.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkCheckTCP(b *testing.B) {
	benchCheck(b, NewTCP(), mustAddrPort(b, probetest.Listen(b)))
}

func benchHTTPServer(b *testing.B, tlsCert *tls.Certificate) netip.AddrPort {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}))
	if tlsCert != nil {
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{*tlsCert}}
		srv.StartTLS()
	} else {
		srv.Start()
	}
	b.Cleanup(srv.Close)
	return mustAddrPort(b, srv.Listener.Addr().String())
}

func BenchmarkCheckHTTP(b *testing.B) {
	c, err := NewHTTP(HTTPSpec{Path: "/healthz"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	benchCheck(b, c, benchHTTPServer(b, nil))
}

func BenchmarkCheckHTTPS(b *testing.B) {
	ca := newTestCA(b)
	cert := ca.issue(b, "api.probe.test", time.Now().Add(time.Hour))
	c, err := NewHTTP(HTTPSpec{Path: "/healthz"}, &TLSSpec{ServerName: "api.probe.test", CABundle: ca.pem})
	if err != nil {
		b.Fatal(err)
	}
	benchCheck(b, c, benchHTTPServer(b, &cert))
}

func benchGRPCServer(b *testing.B, opts ...grpc.ServerOption) netip.AddrPort {
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	return grpcServer(b, hs, opts...)
}

func BenchmarkCheckGRPC(b *testing.B) {
	c, err := NewGRPC(GRPCSpec{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	benchCheck(b, c, benchGRPCServer(b))
}

func BenchmarkCheckGRPCTLS(b *testing.B) {
	ca := newTestCA(b)
	cert := ca.issue(b, "grpc.probe.test", time.Now().Add(time.Hour))
	c, err := NewGRPC(GRPCSpec{}, &TLSSpec{ServerName: "grpc.probe.test", CABundle: ca.pem})
	if err != nil {
		b.Fatal(err)
	}
	benchCheck(b, c, benchGRPCServer(b, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}}))))
}

// benchProtocol benchmarks spec against a loopback server.
func benchProtocol(b *testing.B, spec Spec, addr string) {
	b.Helper()
	c, err := New(spec, nil)
	if err != nil {
		b.Fatal(err)
	}
	benchCheck(b, c, mustAddrPort(b, addr))
}

func BenchmarkCheckTCPSendExpect(b *testing.B) {
	benchProtocol(b, Spec{Kind: KindTCP, TCP: &TCPSpec{Send: []byte("PING\r\n"), Expect: []byte("+PONG")}},
		probetest.ServeTCP(b, answer(len("PING\r\n"), "+PONG\r\n")))
}

func BenchmarkCheckRedis(b *testing.B) {
	benchProtocol(b, Spec{Kind: KindRedis}, probetest.ServeTCP(b, fakeRedis(map[string]string{"PING": pong})))
}

func BenchmarkCheckRedisRole(b *testing.B) {
	benchProtocol(b, Spec{Kind: KindRedis, Redis: &RedisSpec{Role: RedisRoleMaster}},
		probetest.ServeTCP(b, fakeRedis(map[string]string{"PING": pong, "ROLE": roleMaster})))
}

func BenchmarkCheckPostgres(b *testing.B) {
	var rec pgStartup
	benchProtocol(b, Spec{Kind: KindPostgres, Postgres: &PostgresSpec{User: "crddemo-probe"}},
		probetest.ServeTCP(b, fakePostgres(&rec, pgAuth(10, "SCRAM-SHA-256\x00\x00"))))
}

// BenchmarkCheckMySQL: the greeting, the login (accepted) and COM_QUIT.
func BenchmarkCheckMySQL(b *testing.B) {
	var rec mysqlConn
	benchProtocol(b, Spec{Kind: KindMySQL}, probetest.ServeTCP(b, fakeMySQL(&rec, mariadbGreeting, mysqlOK(2))))
}

func BenchmarkCheckUDP(b *testing.B) {
	benchProtocol(b, Spec{Kind: KindUDP, UDP: &UDPSpec{Send: []byte("ping"), Expect: []byte("ping")}}, serveUDP(b, echo))
}

func BenchmarkCheckDNS(b *testing.B) {
	var noRD atomic.Int32
	benchProtocol(b, Spec{Kind: KindDNS, DNS: &DNSSpec{Name: "ok.probe.test", Type: DNSTypeA}}, fakeDNS(b, &noRD))
}
