//go:build linux

package protocols

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/crddemo/crddemo/pkg/probe/check"
	"github.com/crddemo/crddemo/test/servers"
)

// redisTLSAddr is the address of the Host the TLS Redis listens on.
const redisTLSAddr = 14

// TestRedisOverTLS: a Redis that speaks TLS only passes the Redis probe
// and a TCP send/expect probe over TLS with its CA, and fails them without
// the CA, or without TLS.
func TestRedisOverTLS(t *testing.T) {
	t.Parallel()
	addr := host.Addr(redisTLSAddr)
	ca, cert, key := issue(t, addr)
	r := servers.StartRedis(t, host, addr, servers.RedisOptions{TLSCert: cert, TLSKey: key})

	withCA := &check.TLSSpec{CABundle: ca}
	wantPass(t, check.Spec{Kind: check.KindRedis, TLS: withCA}, r.Addr)
	wantPass(t, check.Spec{Kind: check.KindTCP, TCP: tcpPing.TCP, TLS: withCA}, r.Addr)
	// A handshake alone passes a TCP probe over TLS.
	wantPass(t, check.Spec{Kind: check.KindTCP, TLS: withCA}, r.Addr)

	wantFail(t, check.Spec{Kind: check.KindRedis, TLS: &check.TLSSpec{}}, r.Addr, "TLS: certificate signed by unknown authority")
	wantFail(t, redisAny, r.Addr, "connection closed before an answer")
}

// issue makes a CA and a certificate it signs for ip, and returns the CA's
// certificate and the server's certificate and key, in PEM.
func issue(t *testing.T, ip netip.Addr) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "crddemo test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: ip.String()},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{ip.AsSlice()},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}
