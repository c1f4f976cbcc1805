package check

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/crddemo/crddemo/pkg/probe/internal/probetest"
)

// Timing of the tests of silent servers: a check must fail with
// msgTimeout (or its kind's "no reply") at the context's deadline, and
// not much later. deadlineMargin covers scheduling on a loaded machine;
// without the deadline the silent servers would hold a check forever.
const (
	silentTimeout  = 300 * time.Millisecond
	deadlineMargin = 3 * time.Second
)

// protocolCase is one probe of a loopback server: the server's handler,
// the spec, and the message the probe must end with ("" for a pass).
type protocolCase struct {
	name   string
	handle func(net.Conn) // the server; nil for target
	target string         // the address to probe when handle is nil
	spec   Spec
	want   string
	// timeout, when set, replaces checkTimeout: the cases that end at
	// the deadline use silentTimeout.
	timeout time.Duration
}

// runProtocolCases probes each case's server twice (the same failure
// gives the same message), checks the message exactly and that it is
// fit for status, and that a check with a timeout ends within it. The
// cases run in parallel, so that the silent servers' timeouts overlap.
func runProtocolCases(t *testing.T, cases []protocolCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			target := tc.target
			if tc.handle != nil {
				target = probetest.ServeTCP(t, tc.handle)
			}
			c, err := New(tc.spec, nil)
			if err != nil {
				t.Fatal(err)
			}
			timeout := checkTimeout
			if tc.timeout > 0 {
				timeout = tc.timeout
			}
			for range 2 {
				// Before the context, whose deadline is then at least
				// timeout after start.
				start := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				err := c.Check(ctx, mustAddrPort(t, target))
				elapsed := time.Since(start)
				cancel()
				got := ""
				if err != nil {
					got = Describe(err)
					if err.Error() != got {
						t.Errorf("Error() %q differs from Describe %q", err.Error(), got)
					}
				}
				if got != tc.want {
					t.Errorf("message %q, want %q", got, tc.want)
				}
				checkMessageBounded(t, got)
				if tc.timeout > 0 && (elapsed < timeout || elapsed > timeout+deadlineMargin) {
					t.Errorf("check took %v with a %v timeout", elapsed, timeout)
				}
			}
		})
	}
}

// Handlers of loopback servers that every protocol is tested against.

// silent reads what the probe sends and never answers, until the probe
// closes.
func silent(c net.Conn) { _, _ = io.Copy(io.Discard, c) }

// closeAtOnce closes the connection without reading or answering.
func closeAtOnce(net.Conn) {}

// endless sends chunk until the probe closes.
func endless(chunk string) func(net.Conn) {
	return func(c net.Conn) {
		go func() { _, _ = io.Copy(io.Discard, c) }()
		for {
			if _, err := c.Write([]byte(chunk)); err != nil {
				return
			}
		}
	}
}

// answer reads n bytes of the probe's request, sends response and then
// waits for the probe to close, so the probe reads the answer rather
// than a reset.
func answer(n int, response string) func(net.Conn) {
	return func(c net.Conn) {
		if _, err := io.ReadFull(c, make([]byte, n)); err != nil {
			return
		}
		_, _ = c.Write([]byte(response))
		_, _ = io.Copy(io.Discard, c)
	}
}

// hostile is what a hostile server puts where the probe reads text:
// invalid UTF-8, control bytes and far more than a message holds.
var hostile = "\xff\x00" + strings.Repeat("A", 2000)

// hostileBounded is hostile as a message shows it after prefix: escaped
// and cut to MaxMessageBytes with an ellipsis.
func hostileBounded(prefix string) string {
	head := prefix + `\xff\x00`
	return head + strings.Repeat("A", MaxMessageBytes-len(head)-len(ellipsis)) + ellipsis
}

// TestProbeConnCancel: a check whose context is cancelled while it waits
// for an answer ends at once, and says so.
func TestProbeConnCancel(t *testing.T) {
	addr := mustAddrPort(t, probetest.ServeTCP(t, silent))
	for _, kind := range []Spec{
		{Kind: KindTCP, TCP: &TCPSpec{Expect: []byte("220")}},
		{Kind: KindRedis},
		{Kind: KindPostgres, Postgres: &PostgresSpec{User: "crddemo-probe"}},
		{Kind: KindMySQL},
	} {
		t.Run(string(kind.Kind), func(t *testing.T) {
			c, err := New(kind, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), probetest.WaitLimit)
			defer cancel()
			time.AfterFunc(50*time.Millisecond, cancel)
			start := time.Now()
			err = c.Check(ctx, addr)
			if err == nil || err.Error() != msgCanceled {
				t.Errorf("cancelled: %v, want %q", err, msgCanceled)
			}
			if elapsed := time.Since(start); elapsed > deadlineMargin {
				t.Errorf("a cancelled check took %v", elapsed)
			}
		})
	}
}

// TestBoundedReader: past its bound it fails with errAnswerTooLong, which
// is not the EOF of a server that closed.
func TestBoundedReader(t *testing.T) {
	r := &boundedReader{r: strings.NewReader(strings.Repeat("x", 10)), left: 4}
	b, err := io.ReadAll(r)
	if string(b) != "xxxx" || err != errAnswerTooLong {
		t.Errorf("read %q, %v; want %q, %v", b, err, "xxxx", errAnswerTooLong)
	}
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
