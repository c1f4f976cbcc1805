package controller

import (
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/probe"
)

const day = 24 * time.Hour

// withCert is s with a certificate valid until notAfter.
func withCert(s probe.State, notAfter time.Time) probe.State {
	s.CertNotAfter = notAfter
	return s
}

// certInput is a published Mydemo's status input with the default
// threshold and one probed endpoint per state.
func certInput(states ...probe.State) statusInput {
	return statusInput{pub: published, endpoints: views(states...), certWarning: DefaultCertificateExpiryWarning}
}

// TestCertificateNotAfterInEndpointStatus: the notAfter a TLS probe saw
// is in its endpoint's status, whole seconds, while the endpoint is up
// and while it is down; an endpoint without TLS has none, and neither
// has the Mydemo a CertificateValid condition then.
func TestCertificateNotAfterInEndpointStatus(t *testing.T) {
	md := newMydemo("web", "10.1.2.3", 443)
	notAfter := fixedNow.Add(30*day + 500*time.Millisecond)
	st := computeStatus(md, certInput(withCert(up(fixedNow), notAfter), withCert(down(fixedNow, "TLS: certificate has expired or is not yet valid"), fixedNow.Add(-day)), up(fixedNow)), fixedNow)
	for i, want := range []*time.Time{ptr.To(notAfter.Truncate(time.Second)), ptr.To(fixedNow.Add(-day)), nil} {
		got := st.Endpoints[i].CertificateNotAfter
		switch {
		case want == nil && got != nil:
			t.Errorf("endpoint %d without TLS: certificateNotAfter %v", i, got)
		case want != nil && (got == nil || !got.Time.Equal(*want)):
			t.Errorf("endpoint %d: certificateNotAfter %v, want %v", i, got, *want)
		}
	}
	plain := computeStatus(md, certInput(up(fixedNow)), fixedNow)
	if c := meta.FindStatusCondition(plain.Conditions, crddemov1.ConditionCertificateValid); c != nil {
		t.Errorf("a Mydemo without TLS has %+v", c)
	}
}

// TestCertificateExpiringOnce: a certificate 30 days from expiry is
// valid (no Event: seeing a good certificate is no news); once the clock
// brings it within 14 days the condition turns False with one Warning
// CertificateExpiring, and later syncs neither write nor warn again; a
// renewed certificate is one write and one Normal CertificateValid.
func TestCertificateExpiringOnce(t *testing.T) {
	md := newMydemo("web", "10.1.2.3", 443)
	first, renewed := fixedNow.Add(30*day), fixedNow.Add(120*day)
	in := certInput(withCert(up(fixedNow), first), up(fixedNow))

	p := planStatus(md, in, fixedNow, 0)
	if !p.write || len(p.events) != 1 || p.events[0].reason != ReasonPublished {
		t.Fatalf("first status: write %v, events %+v; want the Published Event alone", p.write, p.events)
	}
	if c := meta.FindStatusCondition(p.status.Conditions, crddemov1.ConditionCertificateValid); c == nil || c.Status != metav1.ConditionTrue || c.Reason != ReasonCertificateValid {
		t.Fatalf("CertificateValid %+v, want True", c)
	}
	if want := 16 * day; p.recheckAfter != want {
		t.Errorf("recheck after %v, want %v (30 days less the 14-day threshold)", p.recheckAfter, want)
	}
	md.Status = p.status

	// A day before the threshold: nothing to write, the recheck counts
	// down.
	if p := planStatus(md, in, fixedNow.Add(15*day), 0); p.write || p.recheckAfter != day {
		t.Errorf("15 days on: write %v, recheck after %v; want none and 24h", p.write, p.recheckAfter)
	}
	crossed := fixedNow.Add(16 * day)
	p = planStatus(md, in, crossed, 0)
	if !p.write || len(p.events) != 1 || p.events[0].reason != ReasonCertificateExpiring || p.events[0].eventType != corev1.EventTypeWarning {
		t.Fatalf("at the threshold: write %v, events %+v; want one Warning CertificateExpiring", p.write, p.events)
	}
	if c := meta.FindStatusCondition(p.status.Conditions, crddemov1.ConditionCertificateValid); c.Status != metav1.ConditionFalse || c.Reason != ReasonCertificateExpiring || !c.LastTransitionTime.Time.Equal(crossed) {
		t.Errorf("CertificateValid %+v, want False since %v", c, crossed)
	}
	if p.recheckAfter != 0 {
		t.Errorf("recheck after %v once False", p.recheckAfter)
	}
	md.Status = p.status
	for _, later := range []time.Duration{17 * day, 30 * day, 31 * day} {
		if p := planStatus(md, in, fixedNow.Add(later), 0); p.write || len(p.events) > 0 {
			t.Errorf("%v on: write %v, events %+v; want neither", later, p.write, p.events)
		}
	}

	in = certInput(withCert(up(fixedNow), renewed), up(fixedNow))
	p = planStatus(md, in, fixedNow.Add(20*day), 0)
	if !p.write || len(p.events) != 1 || p.events[0].reason != ReasonCertificateValid || p.events[0].eventType != corev1.EventTypeNormal {
		t.Fatalf("renewed: write %v, events %+v; want one Normal CertificateValid", p.write, p.events)
	}
	if got := p.status.Endpoints[0].CertificateNotAfter; !got.Time.Equal(renewed) {
		t.Errorf("renewed certificateNotAfter %v, want %v", got, renewed)
	}
}

// TestCertificateEarliestAndExpired: the earliest certificate of the
// published endpoints decides; one that expires in a day, or expired, is
// expiring at once, and one already expired and known is not warned of
// again when another one nears its expiry.
func TestCertificateEarliestAndExpired(t *testing.T) {
	md := newMydemo("web", "10.1.2.3", 443)
	for name, tc := range map[string]struct {
		notAfters []time.Time
		want      metav1.ConditionStatus
	}{
		"30 days":           {[]time.Time{fixedNow.Add(30 * day)}, metav1.ConditionTrue},
		"1 day":             {[]time.Time{fixedNow.Add(day)}, metav1.ConditionFalse},
		"expired":           {[]time.Time{fixedNow.Add(-time.Hour)}, metav1.ConditionFalse},
		"30 days and 1 day": {[]time.Time{fixedNow.Add(30 * day), fixedNow.Add(day)}, metav1.ConditionFalse},
	} {
		t.Run(name, func(t *testing.T) {
			var states []probe.State
			for _, na := range tc.notAfters {
				states = append(states, withCert(up(fixedNow), na))
			}
			st := computeStatus(md, certInput(states...), fixedNow)
			if c := meta.FindStatusCondition(st.Conditions, crddemov1.ConditionCertificateValid); c == nil || c.Status != tc.want {
				t.Errorf("CertificateValid %+v, want %s", c, tc.want)
			}
		})
	}

	// A refused address is not probed: whatever state it carries, it
	// does not count.
	in := certInput(withCert(up(fixedNow), fixedNow.Add(day)), withCert(up(fixedNow), fixedNow.Add(30*day)))
	in.endpoints[0].refused, in.endpoints[0].refusedReason = msgRefusedPrefix+"x", "DeniedRange"
	if c := meta.FindStatusCondition(computeStatus(md, in, fixedNow).Conditions, crddemov1.ConditionCertificateValid); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("a refused endpoint's certificate counted: %+v", c)
	}

	// Expiring already, and another endpoint's certificate comes close
	// too: the condition stays False, nothing to announce.
	md.Status = computeStatus(md, certInput(withCert(up(fixedNow), fixedNow.Add(-time.Hour)), withCert(up(fixedNow), fixedNow.Add(30*day))), fixedNow)
	after := computeStatus(md, certInput(withCert(up(fixedNow), fixedNow.Add(-time.Hour)), withCert(up(fixedNow), fixedNow.Add(2*day))), fixedNow)
	if ev, ok := certificateEvent(md.Status, after); ok {
		t.Errorf("a second expiring certificate sent %+v", ev)
	}
}

// TestRestartKeepsCertificate: after a restart the prober is seeded with
// the recorded certificate, so the status computed before the first TLS
// probe is the one stored: no write, no Event.
func TestRestartKeepsCertificate(t *testing.T) {
	md := newMydemo("web", "10.1.2.3", 443)
	notAfter := fixedNow.Add(day)
	p := planStatus(md, certInput(withCert(up(fixedNow), notAfter)), fixedNow, 0)
	md.Status = p.status

	seeded := recordedVerdictsOf(md, nil, true).seed(netip.MustParseAddr("10.1.0.1"))
	if !seeded.CertNotAfter.Equal(notAfter) {
		t.Fatalf("seed %+v lost the certificate", seeded)
	}
	if p := planStatus(md, certInput(seeded), fixedNow.Add(time.Hour), 0); p.write || len(p.events) > 0 {
		t.Errorf("restart: write %v, events %+v; want neither", p.write, p.events)
	}
}
