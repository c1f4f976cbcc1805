package probe

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/netip"

	"github.com/crddemo/crddemo/pkg/probe/check"
)

// checkerRef is a Checker shared by every target with the same Spec. The
// engine builds one per distinct spec, not one per target: an HTTPS
// checker parses its CA bundle once, and 10,000 endpoints of one Mydemo
// share one.
type checkerRef struct {
	key     string
	checker check.Checker
	refs    int
}

// specKey is the identity of a Spec: two specs with the same key build
// Checkers that do the same. Spec holds only strings, numbers, bools,
// byte slices and pointers to such structs, so its JSON form is canonical.
// The key is a digest of that form rather than the form itself: a spec
// may carry a CA bundle of tens of KiB, and entries compare keys, not
// specs, so that no entry keeps a spec (and its bundle) of its own.
func specKey(s check.Spec) string {
	if s.Kind == "" {
		s.Kind = check.KindTCP
	}
	b, err := json.Marshal(s)
	if err != nil {
		// Unreachable for the types above; a key that can never match
		// keeps the target working with a checker of its own.
		return "unencodable:" + err.Error()
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// acquireLocked returns the shared checker of spec, building it on first
// use. A spec that cannot be built (a CA bundle with a broken certificate)
// gets a checker that fails every probe with the reason, so the endpoint
// shows it as its probe failure, with the same text every time.
func (p *Prober) acquireLocked(key string, spec check.Spec) *checkerRef {
	if ref, ok := p.checkers[key]; ok {
		ref.refs++
		return ref
	}
	if spec.Kind == "" {
		spec.Kind = check.KindTCP
	}
	build := p.newChecker
	if build == nil {
		build = func(s check.Spec) (check.Checker, error) { return check.New(s, p.dial) }
	}
	c, err := build(spec)
	if err != nil {
		c = invalidChecker{msg: "invalid probe: " + err.Error()}
	}
	ref := &checkerRef{key: key, checker: c, refs: 1}
	p.checkers[key] = ref
	return ref
}

// releaseLocked drops one use of ref; the last one removes it, so a spec
// change re-creates the checker and an old one is not kept forever.
func (p *Prober) releaseLocked(ref *checkerRef) {
	if ref == nil {
		return
	}
	ref.refs--
	if ref.refs <= 0 && p.checkers[ref.key] == ref {
		delete(p.checkers, ref.key)
	}
}

// invalidChecker fails every probe of a spec that cannot work.
type invalidChecker struct{ msg string }

func (c invalidChecker) Check(context.Context, netip.AddrPort) error {
	return &check.Error{Message: c.msg}
}
