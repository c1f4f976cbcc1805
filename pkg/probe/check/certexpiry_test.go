package check

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/crddemo/crddemo/pkg/probe/internal/probetest"
)

// recordedCheck runs c once with a CertRecorder in its context and
// returns the message ("" on success) and what was recorded.
func recordedCheck(t testing.TB, c Checker, addr netip.AddrPort) (string, time.Time) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	rec := &CertRecorder{}
	msg := ""
	if err := c.Check(WithCertRecorder(ctx, rec), addr); err != nil {
		msg = err.Error()
	}
	return msg, rec.NotAfter()
}

// tlsTargets serves cert with every TLS kind a probe speaks, on loopback,
// and returns the spec of each kind with the TLS settings left to the
// caller, and its address.
func tlsTargets(t *testing.T, cert tls.Certificate) map[string]func(*TLSSpec) (Spec, netip.AddrPort) {
	t.Helper()
	https := tlsServer(t, cert)
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	grpcAddr := grpcServer(t, hs, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}})))
	tcpAddr := mustAddrPort(t, tlsTCPServer(t, cert, func(net.Conn) {}))
	redisAddr := mustAddrPort(t, tlsTCPServer(t, cert, fakeRedis(map[string]string{"PING": pong})))
	return map[string]func(*TLSSpec) (Spec, netip.AddrPort){
		"HTTPS": func(s *TLSSpec) (Spec, netip.AddrPort) {
			return Spec{Kind: KindHTTPS, TLS: s}, mustAddrPort(t, strings.TrimPrefix(https.URL, "https://"))
		},
		"gRPC": func(s *TLSSpec) (Spec, netip.AddrPort) { return Spec{Kind: KindGRPC, TLS: s}, grpcAddr },
		"TCP":  func(s *TLSSpec) (Spec, netip.AddrPort) { return Spec{Kind: KindTCP, TLS: s}, tcpAddr },
		"Redis": func(s *TLSSpec) (Spec, netip.AddrPort) {
			return Spec{Kind: KindRedis, TLS: s}, redisAddr
		},
	}
}

// TestTLSChecksRecordNotAfter: every kind that speaks TLS records the
// notAfter of the certificate its server presents, expiring in a day, in
// 30 days or already expired; the expired one fails the probe when it is
// verified and passes with insecureSkipVerify, and is recorded both ways.
func TestTLSChecksRecordNotAfter(t *testing.T) {
	ca := newTestCA(t)
	now := time.Now()
	for _, cert := range []struct {
		name     string
		notAfter time.Time
		verified string // the message of a verified probe
	}{
		{"expires in 1 day", now.Add(24 * time.Hour), ""},
		{"expires in 30 days", now.Add(30 * 24 * time.Hour), ""},
		{"expired", now.Add(-time.Hour), msgCertExpired},
	} {
		// The certificate holds whole seconds.
		want := cert.notAfter.Truncate(time.Second)
		targets := tlsTargets(t, ca.issue(t, "tls.probe.test", cert.notAfter))
		for kind, target := range targets {
			for _, verify := range []bool{true, false} {
				t.Run(cert.name+"/"+kind+"/verify="+map[bool]string{true: "on", false: "off"}[verify], func(t *testing.T) {
					spec, addr := target(&TLSSpec{ServerName: "tls.probe.test", CABundle: ca.pem, InsecureSkipVerify: !verify})
					c, err := New(spec, nil)
					if err != nil {
						t.Fatal(err)
					}
					wantMsg := cert.verified
					if !verify {
						wantMsg = ""
					}
					msg, got := recordedCheck(t, c, addr)
					if msg != wantMsg {
						t.Errorf("message %q, want %q", msg, wantMsg)
					}
					if !got.Equal(want) {
						t.Errorf("recorded notAfter %v, want %v", got, want)
					}
				})
			}
		}
	}
}

// TestTLSChecksRecordEarliestOfChain: the earliest notAfter of the chain
// the server sends counts, here its CA's, which expires before the
// server's own certificate; and a failure that is not about the
// certificate (an unknown authority) still records what was presented.
func TestTLSChecksRecordEarliestOfChain(t *testing.T) {
	now := time.Now()
	ca := newTestCAUntil(t, now.Add(24*time.Hour))
	leaf := ca.issue(t, "tls.probe.test", now.Add(30*24*time.Hour))
	leaf.Certificate = append(leaf.Certificate, ca.Cert.Raw)
	want := ca.Cert.NotAfter
	for kind, target := range tlsTargets(t, leaf) {
		t.Run(kind, func(t *testing.T) {
			spec, addr := target(&TLSSpec{ServerName: "tls.probe.test", CABundle: ca.pem})
			c, err := New(spec, nil)
			if err != nil {
				t.Fatal(err)
			}
			if msg, got := recordedCheck(t, c, addr); msg != "" || !got.Equal(want) {
				t.Errorf("verified: message %q, notAfter %v; want none and %v", msg, got, want)
			}
			spec, addr = target(&TLSSpec{ServerName: "tls.probe.test", CABundle: newTestCA(t).pem})
			if c, err = New(spec, nil); err != nil {
				t.Fatal(err)
			}
			if msg, got := recordedCheck(t, c, addr); msg != msgUnknownCA || !got.Equal(want) {
				t.Errorf("unknown authority: message %q, notAfter %v; want %q and %v", msg, got, msgUnknownCA, want)
			}
		})
	}
}

// TestChecksWithoutCertificateRecordNothing: a probe without TLS, or
// whose connection fails before a certificate arrives, records nothing;
// and a Check without a recorder in its context works as before.
func TestChecksWithoutCertificateRecordNothing(t *testing.T) {
	refused := mustAddrPort(t, probetest.RefusedAddress(t))
	for name, spec := range map[string]Spec{
		"plain TCP":             {Kind: KindTCP},
		"HTTPS refused":         {Kind: KindHTTPS, TLS: &TLSSpec{InsecureSkipVerify: true}},
		"TCP over TLS, refused": {Kind: KindTCP, TLS: &TLSSpec{InsecureSkipVerify: true}},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := New(spec, nil)
			if err != nil {
				t.Fatal(err)
			}
			addr := refused
			if spec.TLS == nil {
				addr = mustAddrPort(t, probetest.Listen(t))
			}
			if _, got := recordedCheck(t, c, addr); !got.IsZero() {
				t.Errorf("recorded %v, want nothing", got)
			}
		})
	}
	ca := newTestCA(t)
	srv := tlsServer(t, ca.issue(t, "tls.probe.test", time.Now().Add(time.Hour)))
	c, err := New(Spec{Kind: KindHTTPS, TLS: &TLSSpec{CABundle: ca.pem, ServerName: "tls.probe.test"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if msg := runCheck(t, c, mustAddrPort(t, strings.TrimPrefix(srv.URL, "https://"))); msg != "" {
		t.Errorf("without a recorder: %q", msg)
	}
}

// TestCertRecorderYearOne: a certificate whose notAfter is the zero time
// (0001-01-01, which a hostile target can present) is recorded as long
// expired, not taken for "no certificate", so a later date in the chain
// cannot hide it.
func TestCertRecorderYearOne(t *testing.T) {
	var r CertRecorder
	r.add([]*x509.Certificate{{NotAfter: time.Time{}}, {NotAfter: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}})
	if got := r.NotAfter(); got.IsZero() || got.After(time.Unix(0, 0)) {
		t.Errorf("recorded %v, want a date no later than 1970", got)
	}
}
