package probe

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crddemo/crddemo/pkg/probe/check"
	"github.com/crddemo/crddemo/pkg/probe/internal/probetest"
)

// selfSigned is a certificate for 127.0.0.1 valid until notAfter.
func selfSigned(t *testing.T, notAfter time.Time) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "probe engine test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestCertNotAfterTransitionsOnChangeOnly: the notAfter of a TLS target's
// certificate is in its State from the first probe, a renewed certificate
// is one transition, and the same certificate probe after probe is none;
// a probe that fails before the handshake keeps the last one.
func TestCertNotAfterTransitionsOnChangeOnly(t *testing.T) {
	now := time.Now()
	first, renewed := now.Add(24*time.Hour).Truncate(time.Second), now.Add(90*24*time.Hour).Truncate(time.Second)
	var serving atomic.Pointer[tls.Certificate]
	serving.Store(selfSigned(t, first))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	tlsLn := tls.NewListener(ln, &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		return serving.Load(), nil
	}})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := tlsLn.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			_ = c.Close()
		}
	}()
	closed := false
	stopServing := func() {
		if !closed {
			closed = true
			_ = tlsLn.Close()
			<-done
		}
	}
	t.Cleanup(stopServing)

	tr := newTransitions()
	dc := newDialCounter(nil)
	p := New(Options{OnTransition: tr.record, Dial: dc.Dial, Jitter: zeroJitter})
	k := objKey("tls")
	target := fastTarget(addr)
	target.Spec = check.Spec{Kind: check.KindTCP, TLS: &check.TLSSpec{InsecureSkipVerify: true}}
	p.Sync(k, []Target{target})
	run(t, p)

	probetest.Eventually(t, "the first certificate", func() bool { return stateOf(p, k).CertNotAfter.Equal(first) })
	dc.waitDials(t, addr, 3)
	if s, n := stateOf(p, k), tr.count(k); n != 1 || s.Reachability != Reachable {
		t.Fatalf("after probes of the same certificate: %d transitions (want 1, the first verdict with its certificate), state %+v", n, s)
	}

	serving.Store(selfSigned(t, renewed))
	probetest.Eventually(t, "the renewed certificate", func() bool { return stateOf(p, k).CertNotAfter.Equal(renewed) })
	dc.waitDials(t, addr, 3)
	if n := tr.count(k); n != 2 {
		t.Fatalf("%d transitions after one renewal, want 2", n)
	}

	stopServing()
	// A connection accepted just before the listener closed fails with
	// "connection closed" rather than a refusal, and the message of an
	// Unreachable target follows its latest failure (one transition
	// more): wait for the refusal before counting.
	probetest.Eventually(t, "Unreachable, refused", func() bool {
		s := stateOf(p, k)
		return s.Reachability == Unreachable && s.Message == "connection refused"
	})
	if s := stateOf(p, k); !s.CertNotAfter.Equal(renewed) {
		t.Errorf("a refused probe changed the certificate to %v, want %v kept", s.CertNotAfter, renewed)
	}
	down := tr.count(k)
	if down != 3 && down != 4 {
		t.Errorf("%d transitions after going down, want 3 (the verdict), or 4 when the first failure was a closed connection", down)
	}
	dc.waitDials(t, addr, 3)
	if n := tr.count(k); n != down {
		t.Errorf("%d transitions over 3 refused probes, want none", n-down)
	}
}

// TestCertNotAfterKeptByThresholdTransitions: a change of verdict keeps
// the certificate the tracker knows, and a seed carries one in.
func TestCertNotAfterKeptByThresholdTransitions(t *testing.T) {
	notAfter := time.Now().Add(time.Hour)
	tr := tracker{}
	if !tr.recordCert(notAfter) || tr.recordCert(notAfter) || tr.recordCert(time.Time{}) {
		t.Fatal("recordCert reports a change only for a new notAfter")
	}
	tr.record(false, "connection refused", time.Now(), 1, 1)
	if !tr.state.CertNotAfter.Equal(notAfter) {
		t.Errorf("a transition dropped the certificate: %+v", tr.state)
	}

	p := New(Options{Jitter: zeroJitter})
	target := fastTarget(probetest.RefusedAddress(t))
	target.Seed = State{Reachability: Reachable, Since: time.Now(), CertNotAfter: notAfter}
	if s := p.Sync(objKey("seeded"), []Target{target})[0]; !s.CertNotAfter.Equal(notAfter) {
		t.Errorf("seeded state %+v lost the certificate", s)
	}
}
