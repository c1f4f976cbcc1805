package probe

import "time"

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
}

// tracker applies the threshold rules to a stream of probe results. It is
// kept apart from scheduling so the rules can be tested on their own.
type tracker struct {
	state State
	// Consecutive results of each kind; a result of the other kind resets
	// the count, as in kubelet.
	successes int
	failures  int
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

	next := tr.state.Reachability
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
		}
	}
	if next == tr.state.Reachability {
		if next != Unreachable || ok || msg == tr.state.Message {
			return false
		}
		tr.state.Message = msg
		return true
	}

	tr.state = State{Reachability: next, Since: now}
	if next == Unreachable {
		tr.state.Message = msg
	}
	return true
}
