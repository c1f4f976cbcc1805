package controller

import (
	"sync"
	"time"

	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
)

// An endpoint's message follows its latest failure, and a target decides
// what that failure says: one that answers 500, 501, 502 and 503 in turn,
// or sends a different excerpt every time, changes the wording on every
// probe. A status write whose only change is such wording (the messages of
// status.endpoints and status.hostnames) is therefore written at most once
// per wordingRefresh for each Mydemo; until then the sync's result asks
// for the key again when it may go. Any change of a structured field (a verdict, a
// count, a reason) is written at once and carries the latest wording with
// it.
const wordingRefresh = 30 * time.Second

// wordingPace remembers when each Mydemo's status was last written.
type wordingPace struct {
	clock clock.PassiveClock
	mu    sync.Mutex
	last  map[cache.ObjectName]time.Time
}

func newWordingPace(c clock.PassiveClock) *wordingPace {
	return &wordingPace{clock: c, last: map[cache.ObjectName]time.Time{}}
}

// wait returns how long a wording-only write of key must still wait: 0
// when it may go now.
func (p *wordingPace) wait(key cache.ObjectName) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	last, ok := p.last[key]
	if !ok {
		return 0
	}
	return max(last.Add(wordingRefresh).Sub(p.clock.Now()), 0)
}

// wrote records a status write of key.
func (p *wordingPace) wrote(key cache.ObjectName) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last[key] = p.clock.Now()
}

func (p *wordingPace) forget(key cache.ObjectName) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.last, key)
}

// onlyWordingDiffers reports whether have and want differ in nothing but
// the messages of their endpoints and hostnames (and the condition
// messages, which statusEqual ignores anyway).
func onlyWordingDiffers(have, want crddemov1.MydemoStatus) bool {
	if len(have.Endpoints) != len(want.Endpoints) || len(have.Hostnames) != len(want.Hostnames) {
		return false
	}
	h, w := *have.DeepCopy(), *want.DeepCopy()
	for i := range h.Endpoints {
		h.Endpoints[i].Message, w.Endpoints[i].Message = "", ""
		// A certificate date moves only the CertificateValid condition's
		// message while the condition keeps its status and reason (which
		// statusEqual still compares): a target that presents a new date
		// on every handshake must not buy a write per probe.
		h.Endpoints[i].CertificateNotAfter, w.Endpoints[i].CertificateNotAfter = nil, nil
	}
	for i := range h.Hostnames {
		h.Hostnames[i].Message, w.Hostnames[i].Message = "", ""
	}
	return statusEqual(h, w)
}
