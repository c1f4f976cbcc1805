//go:build linux

package protocols

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/crddemo/crddemo/pkg/probe/check"
	"github.com/crddemo/crddemo/test/testhost"
)

// probeTimeout is every probe's deadline. The servers answer in
// milliseconds; the margin is for two cores busy with other tests. A
// probe whose expectation is not met waits this long for more bytes.
const probeTimeout = 3 * time.Second

// awaitTimeout bounds the wait for a server to reach a state the test
// brought about (a replica synced, a dataset loaded).
const awaitTimeout = 60 * time.Second

// host is the test host every server of this binary runs in, each on an
// address of its own. TestMain sets it before any test runs.
var host *testhost.Host

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	h, err := testhost.New(context.Background(), testhost.Options{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "protocols: no test host, no test was run: %v\n", err)
		return 1
	}
	host = h
	code := m.Run()
	if err := h.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "protocols: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// probe runs one check of spec against addr, as the engine would, from
// the initial namespace with the probe dialer.
func probe(t *testing.T, spec check.Spec, addr netip.AddrPort) error {
	t.Helper()
	c, err := check.New(spec, nil)
	if err != nil {
		t.Fatalf("check.New(%+v): %v", spec, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), probeTimeout)
	defer cancel()
	return c.Check(ctx, addr)
}

// wantPass fails the test unless the probe passes.
func wantPass(t *testing.T, spec check.Spec, addr netip.AddrPort) {
	t.Helper()
	if err := probe(t, spec, addr); err != nil {
		t.Fatalf("%s probe of %s: %v (cause: %v), want a pass", spec.Kind, addr, err, errors.Unwrap(err))
	}
}

// wantFail fails the test unless the probe fails with exactly msg, the
// text the user reads in status.
func wantFail(t *testing.T, spec check.Spec, addr netip.AddrPort, msg string) {
	t.Helper()
	if got := failure(t, spec, addr); got != msg {
		t.Fatalf("%s probe of %s: got %q, want %q", spec.Kind, addr, got, msg)
	}
}

// failure is the message of a failed probe, "" for a pass.
func failure(t *testing.T, spec check.Spec, addr netip.AddrPort) string {
	t.Helper()
	err := probe(t, spec, addr)
	if err == nil {
		return ""
	}
	var ce *check.Error
	if !errors.As(err, &ce) {
		t.Fatalf("%s probe of %s: %v is a %T, want a *check.Error", spec.Kind, addr, err, err)
	}
	return ce.Message
}

// await probes until the probe's message is msg ("" for a pass), and fails
// the test with the last message after awaitTimeout.
func await(t *testing.T, spec check.Spec, addr netip.AddrPort, msg string) {
	t.Helper()
	deadline := time.Now().Add(awaitTimeout)
	for {
		got := failure(t, spec, addr)
		if got == msg {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s probe of %s: still %q after %s, want %q", spec.Kind, addr, got, awaitTimeout, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
