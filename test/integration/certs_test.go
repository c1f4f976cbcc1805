package integration

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/controller"
	"github.com/crddemo/crddemo/pkg/operator"
	"github.com/crddemo/crddemo/test/framework"
	"github.com/crddemo/crddemo/test/testca"
	"github.com/crddemo/crddemo/test/testhost"
)

// issue is a server certificate from ca for ips, valid until notAfter
// (whole seconds, as a certificate holds them).
func issue(t *testing.T, ca *testca.CA, notAfter time.Time, ips ...netip.Addr) *tls.Certificate {
	t.Helper()
	names := make([]string, len(ips))
	for i, ip := range ips {
		names[i] = ip.String()
	}
	cert := ca.Issue(t, notAfter, names...)
	return &cert
}

// certificateNotAfter is the first endpoint's certificateNotAfter, or
// the zero time.
func certificateNotAfter(md *crddemov1.Mydemo) time.Time {
	if len(md.Status.Endpoints) == 0 || md.Status.Endpoints[0].CertificateNotAfter == nil {
		return time.Time{}
	}
	return md.Status.Endpoints[0].CertificateNotAfter.Time
}

// eventCount is how many times an Event of reason and type was sent
// about name (a repeated Event is one object with a count).
func (e *env) eventCount(name, eventType, reason string) int {
	e.t.Helper()
	list, err := e.kube.CoreV1().Events(e.ns).List(context.Background(), metav1.ListOptions{
		FieldSelector: "involvedObject.name=" + name + ",reason=" + reason,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, ev := range list.Items {
		if ev.Type == eventType {
			n += int(max(ev.Count, 1))
		}
	}
	return n
}

// TestCertificateExpiry serves HTTPS from a test host with a certificate
// the test swaps, and follows it through the real API server: its
// notAfter is in status.endpoints[].certificateNotAfter; when the clock
// alone brings it within the warning (no probe result changes), the
// CertificateValid condition turns False at that moment with one Warning
// CertificateExpiring, and nothing is written at rest; a renewed
// certificate is written once, with a Normal CertificateValid, and a
// restarted controller writes nothing; an expired certificate fails the
// verified probe and is still reported, and passes with
// insecureSkipVerify.
func TestCertificateExpiry(t *testing.T) {
	t.Parallel()
	host := testhost.Require(t)
	ca := testca.New(t, time.Now().Add(365*24*time.Hour))
	addrs := []netip.Addr{host.Addr(1), host.Addr(2)}
	var serving atomic.Pointer[tls.Certificate]
	var probes atomic.Int64
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			probes.Add(1)
			w.WriteHeader(http.StatusOK)
		}),
		TLSConfig: &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return serving.Load(), nil
		}},
		ReadHeaderTimeout: 5 * time.Second,
	}
	serveOnHost(t, host, 8443, func(ln net.Listener) error { return srv.ServeTLS(ln, "", "") }, func() { _ = srv.Close() })
	waitProbes := func(n int64) {
		t.Helper()
		target := probes.Load() + n
		framework.Eventually(t, converge, "probes of the HTTPS server", func() (bool, string) { return probes.Load() >= target, "" })
	}

	// A certificate valid for 30 days, and a warning that it crosses
	// crossIn from now: long enough for the Mydemo to be published and
	// judged valid first.
	const crossIn = 20 * time.Second
	now := time.Now()
	first := now.Add(30 * 24 * time.Hour).Truncate(time.Second)
	crossAt := now.Add(crossIn)
	warn := first.Sub(crossAt)
	serving.Store(issue(t, ca, first, addrs...))

	e := newEnv(t)
	withWarning := func(c *operator.Config) { c.CertificateExpiryWarning = warn }
	rc := e.startController(withWarning)
	p := appProbe(crddemov1.ProbeTypeHTTPS)
	p.TLS = &crddemov1.ProbeTLS{CABundle: string(ca.PEM)}
	e.createMydemo("api", crddemov1.MydemoSpec{IP: addrs[0].String(), Port: 8443, Probe: p})

	md := e.waitCondition("api", crddemov1.ConditionCertificateValid, metav1.ConditionTrue, controller.ReasonCertificateValid, time.Until(crossAt)-time.Second)
	if got := certificateNotAfter(md); !got.Equal(first) {
		t.Fatalf("certificateNotAfter %v, want %v", got, first)
	}

	// The crossing: a sync scheduled for it writes the condition; a
	// margin of 5 s for the sync and the write on a busy machine.
	md = e.waitCondition("api", crddemov1.ConditionCertificateValid, metav1.ConditionFalse, controller.ReasonCertificateExpiring, time.Until(crossAt)+5*time.Second)
	if at := findCondition(md, crddemov1.ConditionCertificateValid).LastTransitionTime.Time; at.Before(crossAt.Truncate(time.Second)) {
		t.Errorf("CertificateValid turned False at %v, before the crossing at %v", at, crossAt)
	}
	e.waitEvent("api", corev1.EventTypeWarning, controller.ReasonCertificateExpiring, converge)

	// At rest: probes go on, nothing is written, no Event repeats.
	writes := rc.counter.writes()
	waitProbes(3)
	if w := rc.counter.writes() - writes; w != 0 {
		t.Errorf("%d writes at rest with an expiring certificate (by method: %v)", w, rc.counter.snapshot())
	}
	if n := e.eventCount("api", corev1.EventTypeWarning, controller.ReasonCertificateExpiring); n != 1 {
		t.Errorf("%d Warning Events CertificateExpiring, want 1", n)
	}

	// Renewed: written once, with a Normal Event.
	renewed := time.Now().Add(90 * 24 * time.Hour).Truncate(time.Second)
	serving.Store(issue(t, ca, renewed, addrs...))
	md = e.waitCondition("api", crddemov1.ConditionCertificateValid, metav1.ConditionTrue, controller.ReasonCertificateValid, appProbeLimit)
	if got := certificateNotAfter(md); !got.Equal(renewed) {
		t.Errorf("certificateNotAfter %v after renewal, want %v", got, renewed)
	}
	e.waitEvent("api", corev1.EventTypeNormal, controller.ReasonCertificateValid, converge)

	// A restart seeds the certificate from the status: no write.
	rc.stop()
	rc = e.startController(withWarning)
	writes = rc.counter.writes()
	waitProbes(3)
	if w := rc.counter.writes() - writes; w != 0 {
		t.Errorf("the restarted controller sent %d writes (by method: %v)", w, rc.counter.snapshot())
	}

	// Expired: the verified probe fails and still reports it; one with
	// insecureSkipVerify passes and reports it.
	expired := time.Now().Add(-time.Hour).Truncate(time.Second)
	serving.Store(issue(t, ca, expired, addrs...))
	md = e.waitCondition("api", crddemov1.ConditionReachable, metav1.ConditionFalse, "", appProbeLimit)
	if got, msg := certificateNotAfter(md), endpointMessage(md); !got.Equal(expired) || msg != "TLS: certificate has expired or is not yet valid" {
		t.Errorf("expired, verified: certificateNotAfter %v, message %q; want %v and the expiry", got, msg, expired)
	}
	if c := findCondition(md, crddemov1.ConditionCertificateValid); c.Status != metav1.ConditionFalse {
		t.Errorf("CertificateValid %s with an expired certificate", c.Status)
	}
	skip := appProbe(crddemov1.ProbeTypeHTTPS)
	skip.TLS = &crddemov1.ProbeTLS{InsecureSkipVerify: true}
	e.createMydemo("skip", crddemov1.MydemoSpec{IP: addrs[1].String(), Port: 8443, Probe: skip})
	md = e.waitCondition("skip", crddemov1.ConditionCertificateValid, metav1.ConditionFalse, controller.ReasonCertificateExpiring, converge)
	if got := certificateNotAfter(md); !got.Equal(expired) || findCondition(md, crddemov1.ConditionReady).Status != metav1.ConditionTrue {
		t.Errorf("expired, insecureSkipVerify: certificateNotAfter %v, Ready %s; want %v and True", got, findCondition(md, crddemov1.ConditionReady).Status, expired)
	}
}
