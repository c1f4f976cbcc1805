package controller

import (
	"time"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
)

// statusPlan is the status stage of the plan: the status md should have
// and the Events its transitions deserve, sent only once the status is
// written.
type statusPlan struct {
	// write: status differs from md's stored status.
	write  bool
	status crddemov1.MydemoStatus
	events []transitionEvent
	// holdFor, when positive, is how long the write must wait: it changes
	// nothing but wording, and the wording pace (wording.go) says not yet.
	holdFor time.Duration
	// recheckAfter, when positive, is when the clock alone turns the
	// CertificateValid condition False (certificates.go): the key must be
	// synced again then, whether or not anything is written now.
	recheckAfter time.Duration
}

// planStatus is the status of md computed from in at now. wordingWait is
// how long a write that changes only wording must still wait for md.
func planStatus(md *crddemov1.Mydemo, in statusInput, now time.Time, wordingWait time.Duration) statusPlan {
	status := computeStatus(md, in, now)
	recheck := certificateRecheck(status, now, in.certWarning)
	if statusEqual(md.Status, status) {
		return statusPlan{recheckAfter: recheck}
	}
	p := statusPlan{write: true, status: status, recheckAfter: recheck}
	if wordingWait > 0 && onlyWordingDiffers(md.Status, status) {
		p.holdFor = wordingWait
		return p
	}
	p.events = transitions(md.Status, status)
	return p
}
