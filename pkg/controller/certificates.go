package controller

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
)

// DefaultCertificateExpiryWarning is how close the earliest certificate
// an endpoint's TLS probe saw may come to its notAfter before the
// CertificateValid condition turns False and a Warning Event
// CertificateExpiring is sent: two weeks, time enough to renew by hand
// after an automated renewal failed (ACME clients renew 30 days ahead).
// Options.CertificateExpiryWarning <= 0 and the controller's
// --certificate-expiry-warning default to it.
const DefaultCertificateExpiryWarning = 14 * 24 * time.Hour

// Why the expiry is a condition and not only an Event: a certificate
// comes closer to its expiry with no probe result changing, so nothing
// else in the status would change when it crosses the threshold, and an
// Event computed from the old and the new status (as every other one is)
// would never fire. The condition is that change: it turns False once,
// in the sync the controller schedules for the moment of crossing
// (certificateRecheck), and the Event follows from it exactly once, also
// across restarts, since the stored status says it was sent.

// earliestCertificate is the published endpoint of endpoints whose
// certificate expires first; ok is false when no TLS probe saw one.
func earliestCertificate(endpoints []crddemov1.EndpointStatus) (ep crddemov1.EndpointStatus, ok bool) {
	for _, e := range endpoints {
		if !e.Published || e.CertificateNotAfter == nil {
			continue
		}
		if !ok || e.CertificateNotAfter.Before(ep.CertificateNotAfter) {
			ep, ok = e, true
		}
	}
	return ep, ok
}

// certificateCondition is the CertificateValid condition of endpoints at
// now with the threshold warn: False with reason CertificateExpiring once
// the earliest notAfter is at most warn away (or past), True otherwise;
// ok is false when there is no certificate to judge.
func certificateCondition(endpoints []crddemov1.EndpointStatus, now time.Time, warn time.Duration) (status metav1.ConditionStatus, reason, message string, ok bool) {
	ep, ok := earliestCertificate(endpoints)
	if !ok {
		return "", "", "", false
	}
	notAfter := ep.CertificateNotAfter.UTC().Format(time.RFC3339)
	if ep.CertificateNotAfter.Sub(now) <= warn {
		return metav1.ConditionFalse, ReasonCertificateExpiring, fmt.Sprintf(msgCertificateExpiring, ep.Address, notAfter, warningText(warn)), true
	}
	return metav1.ConditionTrue, ReasonCertificateValid, fmt.Sprintf(msgCertificateValid, warningText(warn), ep.Address, notAfter), true
}

// warningText is warn as a message says it: in days when it is whole
// days ("14 days", as the flag's default reads), else as Go prints it.
func warningText(warn time.Duration) string {
	const day = 24 * time.Hour
	if warn >= day && warn%day == 0 {
		return fmt.Sprintf("%d days", warn/day)
	}
	return warn.String()
}

// certificateRecheck is how long after now status's CertificateValid
// condition turns False by the clock alone, so that a sync then writes
// it; 0 when it is False already or there is no certificate.
func certificateRecheck(status crddemov1.MydemoStatus, now time.Time, warn time.Duration) time.Duration {
	ep, ok := earliestCertificate(status.Endpoints)
	if !ok {
		return 0
	}
	return max(ep.CertificateNotAfter.Add(-warn).Sub(now), 0)
}

// certificateEvent is the Event of the CertificateValid condition's
// change from old to new: a Warning when it turns False (not when it is
// False already: a restart, or another endpoint's certificate expiring
// too, says nothing new), a Normal one when it turns True from False.
// The first certificate seen, valid, is no news.
func certificateEvent(old, new crddemov1.MydemoStatus) (transitionEvent, bool) {
	was := meta.FindStatusCondition(old.Conditions, crddemov1.ConditionCertificateValid)
	now := meta.FindStatusCondition(new.Conditions, crddemov1.ConditionCertificateValid)
	switch {
	case now == nil:
		return transitionEvent{}, false
	case now.Status == metav1.ConditionFalse && (was == nil || was.Status != metav1.ConditionFalse):
		return transitionEvent{corev1.EventTypeWarning, ReasonCertificateExpiring, now.Message}, true
	case now.Status == metav1.ConditionTrue && was != nil && was.Status == metav1.ConditionFalse:
		return transitionEvent{corev1.EventTypeNormal, ReasonCertificateValid, now.Message}, true
	}
	return transitionEvent{}, false
}
