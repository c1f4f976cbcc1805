package check

import (
	"strings"
	"testing"
	"time"
)

// TestBodyRegexProgramBounded: an expression short enough for the API but
// compiling to a huge program would cost seconds of CPU per match over a
// 4 KiB body, and a match cannot be cancelled; New refuses it, and a
// health check's usual patterns still compile.
func TestBodyRegexProgramBounded(t *testing.T) {
	heavy := "(?:" + strings.Repeat(".{0,999}", 60) + "x)"
	if len(heavy) > 1024 {
		t.Fatalf("the heavy expression is %d bytes, over the API's bound: the test proves nothing", len(heavy))
	}
	start := time.Now()
	_, err := New(Spec{Kind: KindHTTP, HTTP: &HTTPSpec{ExpectBodyRegex: heavy}}, nil)
	if err == nil || !strings.Contains(err.Error(), "too complex") {
		t.Errorf("New accepted a %d-byte expression of bounded repeats: %v", len(heavy), err)
	}
	t.Logf("refused in %v", time.Since(start))
	for _, ok := range []string{`"status":\s*"(UP|ok)"`, `^OK$`, `(?i)healthy`, `[a-z]{1,64}-[0-9]{1,10}`} {
		if _, err := New(Spec{Kind: KindHTTP, HTTP: &HTTPSpec{ExpectBodyRegex: ok}}, nil); err != nil {
			t.Errorf("New refused %q: %v", ok, err)
		}
	}
}
