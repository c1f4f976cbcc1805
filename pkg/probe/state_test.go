package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/crddemo/crddemo/pkg/probe/check"
	"github.com/crddemo/crddemo/pkg/probe/internal/probetest"
)

func TestTrackerThresholds(t *testing.T) {
	type step struct {
		ok   bool
		want Reachability
		flip bool
	}
	tests := []struct {
		name             string
		success, failure int
		steps            []step
	}{
		{
			name: "first success decides at once", success: 3, failure: 3,
			steps: []step{{true, Reachable, true}},
		},
		{
			name: "first failure decides at once", success: 3, failure: 3,
			steps: []step{{false, Unreachable, true}},
		},
		{
			name: "failure threshold 3", success: 1, failure: 3,
			steps: []step{
				{true, Reachable, true},
				{false, Reachable, false},
				{false, Reachable, false},
				{false, Unreachable, true},
				{false, Unreachable, false},
			},
		},
		{
			name: "a success resets the failure count", success: 1, failure: 2,
			steps: []step{
				{true, Reachable, true},
				{false, Reachable, false},
				{true, Reachable, false},
				{false, Reachable, false},
				{false, Unreachable, true},
			},
		},
		{
			name: "success threshold 2", success: 2, failure: 1,
			steps: []step{
				{false, Unreachable, true},
				{true, Unreachable, false},
				{false, Unreachable, false},
				{true, Unreachable, false},
				{true, Reachable, true},
				{false, Unreachable, true},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var tr tracker
			base := time.Unix(1000, 0)
			for i, s := range tc.steps {
				now := base.Add(time.Duration(i) * time.Second)
				before := tr.state
				// One failure text throughout: only Reachability moves.
				flip := tr.record(s.ok, "connection refused", now, tc.success, tc.failure)
				if flip != s.flip || tr.state.Reachability != s.want {
					t.Fatalf("step %d (ok=%v): got %v flip=%v, want %v flip=%v",
						i, s.ok, tr.state.Reachability, flip, s.want, s.flip)
				}
				switch {
				case flip && !tr.state.Since.Equal(now):
					t.Errorf("step %d: Since = %v, want %v", i, tr.state.Since, now)
				case !flip && tr.state != before:
					t.Errorf("step %d: state changed without a transition: %+v -> %+v", i, before, tr.state)
				}
				if flip {
					wantMsg := ""
					if s.want == Unreachable {
						wantMsg = "connection refused"
					}
					if tr.state.Message != wantMsg {
						t.Errorf("step %d: Message = %q, want %q", i, tr.state.Message, wantMsg)
					}
				}
			}
		})
	}
}

// TestTrackerMessageFollowsLatestFailure: while an endpoint stays
// Unreachable its message is the latest failure's, a changed text is a
// change (a status write) and the same text again is not; Since stays the
// time of the transition.
func TestTrackerMessageFollowsLatestFailure(t *testing.T) {
	steps := []struct {
		ok      bool
		msg     string
		changed bool
		want    State
	}{
		{false, "connection refused", true, State{Reachability: Unreachable, Message: "connection refused", Since: time.Unix(0, 0)}},
		{false, "connection refused", false, State{Reachability: Unreachable, Message: "connection refused", Since: time.Unix(0, 0)}},
		{false, "HTTP 503 from GET /healthz", true, State{Reachability: Unreachable, Message: "HTTP 503 from GET /healthz", Since: time.Unix(0, 0)}},
		{false, "HTTP 503 from GET /healthz", false, State{Reachability: Unreachable, Message: "HTTP 503 from GET /healthz", Since: time.Unix(0, 0)}},
		// A success below the success threshold: still unreachable, for
		// the reason of the last failure.
		{true, "", false, State{Reachability: Unreachable, Message: "HTTP 503 from GET /healthz", Since: time.Unix(0, 0)}},
		{false, "i/o timeout", true, State{Reachability: Unreachable, Message: "i/o timeout", Since: time.Unix(0, 0)}},
		{true, "", false, State{Reachability: Unreachable, Message: "i/o timeout", Since: time.Unix(0, 0)}},
		{true, "", true, State{Reachability: Reachable, Message: "", Since: time.Unix(7, 0)}},
		// Below the failure threshold a reachable endpoint has no message.
		{false, "connection refused", false, State{Reachability: Reachable, Message: "", Since: time.Unix(7, 0)}},
	}
	var tr tracker
	for i, s := range steps {
		changed := tr.record(s.ok, s.msg, time.Unix(int64(i), 0), 2, 2)
		if changed != s.changed || tr.state != s.want {
			t.Fatalf("step %d (ok=%v %q): changed=%v state %+v, want changed=%v state %+v", i, s.ok, s.msg, changed, tr.state, s.changed, s.want)
		}
	}
	// Six failures with one text after the transition: one change, the
	// transition itself.
	tr = tracker{}
	changes := 0
	for i := range 7 {
		msg := "HTTP 503 from GET /healthz"
		if i == 0 {
			msg = "connection refused"
		}
		if tr.record(false, msg, time.Unix(int64(i), 0), 1, 3) {
			changes++
		}
	}
	if changes != 2 || tr.state.Message != "HTTP 503 from GET /healthz" {
		t.Errorf("refused once then 503 six times: %d changes, message %q; want 2 changes and the 503", changes, tr.state.Message)
	}
}

func TestDescribe(t *testing.T) {
	opErr := func(inner error) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: inner}
	}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"refused", opErr(os.NewSyscallError("connect", syscall.ECONNREFUSED)), "connection refused"},
		{"no route", opErr(os.NewSyscallError("connect", syscall.EHOSTUNREACH)), "no route to host"},
		{"context deadline", context.DeadlineExceeded, "i/o timeout"},
		{"wrapped context deadline", fmt.Errorf("dialing: %w", context.DeadlineExceeded), "i/o timeout"},
		{"net deadline", opErr(os.ErrDeadlineExceeded), "i/o timeout"},
		{"op error without errno", opErr(errors.New("something odd")), "something odd"},
		{"anything else", errors.New("boom"), "boom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := check.Describe(tc.err); got != tc.want {
				t.Errorf("check.Describe(%v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
}

// TestDescribeRealDialer checks the message for an error produced by
// the real dialer, not a hand-made one.
func TestDescribeRealDialer(t *testing.T) {
	// A port just closed can be taken again by another process before the
	// dial; a few fresh ports make that vanishingly unlikely.
	var err error
	for range 3 {
		var conn net.Conn
		if conn, err = (&net.Dialer{}).DialContext(context.Background(), "tcp", probetest.RefusedAddress(t)); err != nil {
			break
		}
		_ = conn.Close()
	}
	if err == nil {
		t.Fatal("three closed loopback ports all accepted a connection")
	}
	if got := check.Describe(err); got != "connection refused" {
		t.Errorf("check.Describe(%v) = %q, want %q", err, got, "connection refused")
	}
}

// TestTrackerDampsFlapping: the first two returns to Reachable are never
// held; each further turn to Unreachable without a quiet spell holds the
// target out for longer, a hold ends at the first success after it, and
// flapWindow of Reachable forgets the flaps.
func TestTrackerDampsFlapping(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	var tr tracker
	at := func(d time.Duration, ok bool) bool {
		return tr.record(ok, "connection refused", t0.Add(d), 1, 1)
	}
	expect := func(what string, changed, wantChanged bool, want Reachability) {
		t.Helper()
		if changed != wantChanged || tr.state.Reachability != want {
			t.Fatalf("%s: changed=%v state %+v, want changed=%v %v", what, changed, tr.state, wantChanged, want)
		}
	}
	expect("first failure", at(0, false), true, Unreachable)
	expect("first recovery is not held", at(time.Second, true), true, Reachable)
	expect("second failure", at(2*time.Second, false), true, Unreachable)
	expect("second recovery is not held", at(3*time.Second, true), true, Reachable)
	expect("third failure", at(4*time.Second, false), true, Unreachable)
	expect("held: the message says so", at(5*time.Second, true), true, Unreachable)
	wantMsg := fmt.Sprintf(msgFlapping, 3, 10, "2026-12-03T12:00:34Z")
	if tr.state.Message != wantMsg {
		t.Fatalf("message %q, want %q", tr.state.Message, wantMsg)
	}
	expect("held: the same text again is no change", at(10*time.Second, true), false, Unreachable)
	expect("held: a failure keeps the text", at(11*time.Second, false), false, Unreachable)
	expect("hold of 30 s over", at(34*time.Second, true), true, Reachable)
	expect("fourth failure", at(35*time.Second, false), true, Unreachable)
	expect("held for 60 s", at(94*time.Second, true), true, Unreachable)
	expect("hold of 60 s over", at(95*time.Second, true), true, Reachable)
	// Ten quiet minutes up: the flaps are forgotten.
	expect("failure after a quiet spell", at(95*time.Second+flapWindow, false), true, Unreachable)
	expect("its recovery is not held", at(96*time.Second+flapWindow, true), true, Reachable)

	undamped := tracker{undamped: true}
	for i := range 10 {
		if !undamped.record(i%2 == 1, "connection refused", t0.Add(time.Duration(i)*time.Second), 1, 1) {
			t.Fatalf("result %d: no change with flap damping off", i)
		}
	}
}

// TestFlapDampingBoundsChanges: a target that fails and passes on
// alternate probes, every second for ten minutes, changes its endpoint's
// state (each change a slice or status write) a few dozen times instead
// of on every probe.
func TestFlapDampingBoundsChanges(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	var tr tracker
	changes := 0
	const probes = 600
	for i := range probes {
		if tr.record(i%2 == 1, "connection refused", t0.Add(time.Duration(i)*time.Second), 1, 1) {
			changes++
		}
	}
	// Two free flaps, then holds of 30, 60, 120, 240 and 300 s: about
	// nine flaps in ten minutes, each at most three changes (down, held,
	// up).
	const bound = 30
	t.Logf("%d probes of a target flapping every second: %d state changes", probes, changes)
	if changes > bound {
		t.Errorf("%d state changes in %d probes, want at most %d", changes, probes, bound)
	}
}

func TestFlapHold(t *testing.T) {
	for downs, want := range map[int]time.Duration{0: 0, 1: 0, 2: 0, 3: 30 * time.Second, 4: time.Minute, 5: 2 * time.Minute, 6: 4 * time.Minute, 7: flapHoldMax, 60: flapHoldMax} {
		if got := flapHold(downs); got != want {
			t.Errorf("flapHold(%d) = %v, want %v", downs, got, want)
		}
	}
}
