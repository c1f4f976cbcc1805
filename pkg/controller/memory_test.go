package controller

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2/ktesting"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/probe"
)

// maxCABundle is the API's limit on spec.probe.tls.caBundle.
const maxCABundle = 64 << 10

// TestProbeMemoryBoundedByObjects: the prober's memory grows with the
// number of endpoints and the size of each distinct probe spec, never
// with their product. Eight Mydemos of 1,000 HTTPS endpoints, each with
// its own 64 KiB CA bundle, once cost a copy of the bundle per endpoint
// (512 MiB); what they may cost now is their entries plus one checker
// per Mydemo. The prober is never run, so nothing is dialed.
func TestProbeMemoryBoundedByObjects(t *testing.T) {
	const (
		mydemos   = 8
		endpoints = maxEndpoints
		// perEndpoint is the stated cost of one probed endpoint in the
		// prober (its entry, schedule and map slot), with room to spare;
		// perSpec that of one distinct spec: its checker, the parsed
		// CA pool and the controller's copy of the bundle.
		perEndpoint = 1 << 10
		perSpec     = 4 * maxCABundle
	)
	bound := uint64(mydemos*endpoints*perEndpoint + mydemos*perSpec)

	var objs []*crddemov1.Mydemo
	for i := range mydemos {
		objs = append(objs, httpsMydemo(t, fmt.Sprintf("md-%d", i), endpoints))
	}
	c := newFixture(t, objs, nil, nil).controller
	p := probe.New(probe.Options{})
	c.prober = p
	before := liveHeap()
	_, ctx := ktesting.NewTestContext(t)
	for _, md := range objs {
		// Twice, as every sync does: a second sync must reuse what
		// the first built, not keep another copy.
		for range 2 {
			if _, err := c.observe(ctx, cache.MetaObjectToName(md)); err != nil {
				t.Fatal(err)
			}
		}
	}
	grown := liveHeap() - before
	if n := p.Len(); n != mydemos*endpoints {
		t.Fatalf("prober has %d targets, want %d", n, mydemos*endpoints)
	}
	t.Logf("%d Mydemos × %d HTTPS endpoints with a %d KiB CA bundle each: the prober holds %.1f MiB (%.0f bytes per endpoint), bound %.1f MiB",
		mydemos, endpoints, maxCABundle>>10, float64(grown)/(1<<20), float64(grown)/float64(mydemos*endpoints), float64(bound)/(1<<20))
	if grown > bound {
		t.Errorf("the prober holds %d bytes for %d endpoints, more than the bound of %d", grown, mydemos*endpoints, bound)
	}
	runtime.KeepAlive(objs)
	runtime.KeepAlive(c)
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// httpsMydemo is a Mydemo of n HTTPS endpoints (documentation addresses,
// never dialed here) whose CA bundle is a certificate of its own, repeated
// up to the API's limit, so that no two Mydemos share a checker.
func httpsMydemo(t *testing.T, name string, n int) *crddemov1.Mydemo {
	t.Helper()
	md := newMydemo(name, "", 443)
	md.Spec.IP = ""
	base := netip.MustParseAddr("198.18.0.0")
	for i := range n {
		a := base.As4()
		a[2], a[3] = byte(i>>8), byte(i)
		md.Spec.Endpoints = append(md.Spec.Endpoints, crddemov1.Endpoint{IP: netip.AddrFrom4(a).String()})
	}
	cert := selfSignedPEM(t, name)
	md.Spec.Probe = &crddemov1.Probe{
		Type: crddemov1.ProbeTypeHTTPS, PeriodSeconds: 10, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3,
		TLS: &crddemov1.ProbeTLS{CABundle: strings.Repeat(cert, maxCABundle/len(cert))},
	}
	return md
}

func selfSignedPEM(t *testing.T, name string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
