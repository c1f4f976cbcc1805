package probe

import (
	"fmt"
	"time"
)

// Reachability is the judgement on one key.
type Reachability int

const (
	// Unknown is the state before the first result, and again after the
	// address changes: an old result says nothing about the new
	// target.
	Unknown Reachability = iota
	// Reachable means the last judgement saw connections accepted.
	Reachable
	// Unreachable means the last judgement saw connections fail.
	Unreachable
)

// String makes log lines and test failures readable.
func (r Reachability) String() string {
	switch r {
	case Unknown:
		return "Unknown"
	case Reachable:
		return "Reachable"
	case Unreachable:
		return "Unreachable"
	default:
		return "Reachability(?)"
	}
}

// State is what the prober currently believes about one key.
type State struct {
	Reachability Reachability
	// Message is, for Unreachable, the short error of the latest failed
	// probe (for example "connection refused" or "i/o timeout"), so that
	// status says what the target does now and not what it did when it
	// went down. Messages are stable texts, so the same failure again
	// leaves it as it is and costs no status write. It is empty otherwise.
	Message string
	// Since is when Reachability last changed, read from the prober's clock.
	Since time.Time
	// CertNotAfter is the earliest notAfter of the certificate chain the
	// target presented to the latest probe that saw one (a TLS probe that
	// got as far as the server's certificate, verified or not); zero
	// before that, and for a probe without TLS. A probe that fails before
	// the handshake (refused, timed out) leaves it as it was: the
	// certificate is still the one the target serves, as far as anyone
	// knows, and an outage does not cost two status writes more.
	CertNotAfter time.Time
}

// tracker applies the threshold rules to a stream of probe results. It is
// kept apart from scheduling so the rules can be tested on their own.
type tracker struct {
	state State
	// Consecutive results of each kind; a result of the other kind resets
	// the count, as in kubelet.
	successes int
	failures  int
	// downs counts the turns to Unreachable since the target last stayed
	// Reachable for flapWindow; see flapHold.
	downs int
	// heldUntil is set while a passing target is held out of rotation
	// (its message says so); zero otherwise.
	heldUntil time.Time
	// undamped turns flap damping off (Options.DisableFlapDamping).
	undamped bool
}

// Flap damping. A target that keeps failing and recovering would move its
// endpoint in and out of every Service's rotation and cost a slice and a
// status write each time. Going out of rotation is never delayed; coming
// back is, once the target has gone down three times without a quiet
// spell in between (one outage, or a swap back and forth, is never held):
// the n-th turn to Unreachable holds the endpoint out for
// flapHoldBase × 2^(n−3), at most flapHoldMax, counted from when it went
// down. As Envoy's outlier ejection does, the hold grows with every
// flap, and staying Reachable for flapWindow forgets them. A hold costs no
// probe and no timer: the first success after it ends brings the endpoint
// back, so a target at rest is never written about.
const (
	flapHoldBase = 30 * time.Second
	flapHoldMax  = 5 * time.Minute
	flapWindow   = 10 * time.Minute
)

// msgFlapping is the message of a target that passes while flap damping
// keeps its endpoint out of rotation.
const msgFlapping = "flapping: down %d times without %d minutes up in between; held not ready until %s"

// flapHold is how long the downs-th turn to Unreachable keeps a target out.
func flapHold(downs int) time.Duration {
	if downs < 3 {
		return 0
	}
	hold := flapHoldBase
	for i := 3; i < downs && hold < flapHoldMax; i++ {
		hold *= 2
	}
	return min(hold, flapHoldMax)
}

// onEdge reports whether the latest results contradict the verdict without
// having met the threshold that would change it yet: a Reachable target
// that failed fewer than failureThreshold times in a row, or an
// Unreachable one that passed fewer than successThreshold times. The
// engine then probes at the edge interval instead of the period, as
// HAProxy's fastinter/downinter and Envoy's unhealthy/healthy edge
// intervals do: a streak adds at most threshold − 1 probes, at most one
// streak starts per period (a streak that breaks returns the target to
// its period), and none at rest. A held target (flap damping) has met its
// threshold already, so it waits out its hold at the period.
func (tr *tracker) onEdge(successThreshold, failureThreshold int) bool {
	switch tr.state.Reachability {
	case Reachable:
		return tr.failures > 0 && tr.failures < failureThreshold
	case Unreachable:
		return tr.successes > 0 && tr.successes < successThreshold
	default:
		return false
	}
}

// record adds one result and reports whether the State changed: its
// Reachability, or while Unreachable the message, which follows the
// latest failure. msg is the short error of a failure and is ignored for a
// success (a success below the threshold leaves the last failure's
// message: the endpoint is still unreachable for that reason).
func (tr *tracker) record(ok bool, msg string, now time.Time, successThreshold, failureThreshold int) bool {
	if ok {
		tr.successes++
		tr.failures = 0
	} else {
		tr.failures++
		tr.successes = 0
	}

	next, held := tr.state.Reachability, false
	switch tr.state.Reachability {
	case Unknown:
		// The first result decides at once: waiting for a threshold here
		// would only delay the first status a user sees.
		if ok {
			next = Reachable
		} else {
			next = Unreachable
		}
	case Reachable:
		if !ok && tr.failures >= failureThreshold {
			next = Unreachable
		}
	case Unreachable:
		if ok && tr.successes >= successThreshold {
			next = Reachable
			if until := tr.state.Since.Add(flapHold(tr.downs)); !tr.undamped && now.Before(until) {
				// Passing, but held out: the message says so and until
				// when, the same text for every result of the hold.
				next, tr.heldUntil = Unreachable, until
			}
		}
		if now.Before(tr.heldUntil) {
			held = true
			msg = fmt.Sprintf(msgFlapping, tr.downs, int(flapWindow.Minutes()), tr.heldUntil.UTC().Format(time.RFC3339))
		}
	}
	if next == tr.state.Reachability {
		if next != Unreachable || (ok && !held) || msg == tr.state.Message {
			return false
		}
		tr.state.Message = msg
		return true
	}

	if next == Unreachable {
		if tr.state.Reachability == Reachable && now.Sub(tr.state.Since) >= flapWindow {
			tr.downs = 0
		}
		tr.downs++
	}
	tr.state, tr.heldUntil = State{Reachability: next, Since: now, CertNotAfter: tr.state.CertNotAfter}, time.Time{}
	if next == Unreachable {
		tr.state.Message = msg
	}
	return true
}

// recordCert keeps notAfter, the earliest notAfter of the chain one probe
// saw (zero: it saw none), and reports whether that changed the State:
// a renewed certificate is one change, the same certificate again none.
func (tr *tracker) recordCert(notAfter time.Time) bool {
	if notAfter.IsZero() || notAfter.Equal(tr.state.CertNotAfter) {
		return false
	}
	tr.state.CertNotAfter = notAfter
	return true
}
