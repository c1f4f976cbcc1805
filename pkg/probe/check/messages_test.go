package check

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/crddemo/crddemo/pkg/probe/internal/probetest"
)

// checkMessageBounded fails t unless msg is fit for status: at most
// MaxMessageBytes, valid UTF-8, printable, with no query and no secret.
func checkMessageBounded(t *testing.T, msg string) {
	t.Helper()
	if len(msg) > MaxMessageBytes {
		t.Errorf("message of %d bytes, bound %d: %.80q…", len(msg), MaxMessageBytes, msg)
	}
	if !utf8.ValidString(msg) {
		t.Errorf("message is not valid UTF-8: %.80q…", msg)
	}
	for _, r := range msg {
		if !unicode.IsPrint(r) {
			t.Errorf("message has the unprintable %U: %.80q…", r, msg)
			break
		}
	}
	if strings.Contains(msg, "SECRET") || strings.Contains(msg, "?") {
		t.Errorf("message shows the query: %q", msg)
	}
}

// serveRaw answers every connection with response, after reading the
// request's head, and returns the server's address.
func serveRaw(t *testing.T, response string) string {
	t.Helper()
	return probetest.ServeTCP(t, func(c net.Conn) {
		// Reading the request first keeps the close orderly, so the
		// probe reads the answer rather than a reset.
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil || line == "\r\n" {
				break
			}
		}
		_, _ = c.Write([]byte(response))
	})
}

// TestHostileHTTPServersGetBoundedMessages probes servers that answer with
// what a hostile review sent, through a path with a token in its query. The
// message the prober records is short, printable, free of the query, and
// the same on every probe.
func TestHostileHTTPServersGetBoundedMessages(t *testing.T) {
	longPath := "/" + strings.Repeat("p", 2030) + "?token=SECRET123"
	ff := strings.Repeat("\xff", 12000)
	tests := []struct {
		name, path, response string
		// want is the message, or with prefix set its start.
		want   string
		prefix bool
	}{
		{"a 2 KiB path answered 503", longPath, "HTTP/1.1 503 Unavailable\r\nContent-Length: 0\r\n\r\n",
			"HTTP 503 from GET /" + strings.Repeat("p", maxPathBytes-len(ellipsis)-1) + ellipsis, false},
		{"a status line of 12,000 bytes 0xFF", longPath, ff + "\r\n\r\n", msgNotHTTP, false},
		{"a status code of 12,000 bytes 0xFF", longPath, "HTTP/1.1 " + ff + "\r\n\r\n", msgNotHTTP, false},
		{"a reason of 12,000 bytes 0xFF", longPath, "HTTP/1.1 500 " + ff + "\r\nContent-Length: 0\r\n\r\n",
			"HTTP 500 from GET /ppp", true},
		{"a 15 KB header line without a colon", longPath, "HTTP/1.1 200 OK\r\n" + strings.Repeat("A", 15000) + "\r\n\r\n", msgBadHeaders, false},
		{"a 15 KB header of control bytes", longPath, "HTTP/1.1 200 OK\r\nX-A: " + strings.Repeat("\x01", 15000) + "\r\n\r\n", msgBadHeaders, false},
		{"a 15 KB Content-Length", longPath, "HTTP/1.1 200 OK\r\nContent-Length: " + strings.Repeat("9x", 7500) + "\r\n\r\n",
			`bad Content-Length "` + strings.Repeat("9x", maxExcerptBytes/2) + ellipsis + `"`, false},
		{"a 15 KB Transfer-Encoding of 0xFF", longPath, "HTTP/1.1 200 OK\r\nTransfer-Encoding: " + ff[:15000/4] + "\r\n\r\n",
			`unsupported transfer encoding: "` + strings.Repeat(`\xff`, maxExcerptBytes/4) + ellipsis + `"`, false},
		{"headers over 16 KiB", longPath, "HTTP/1.1 200 OK\r\nX-A: " + strings.Repeat("a", 17000) + "\r\n\r\n", msgHeadersTooLarge, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := mustAddrPort(t, serveRaw(t, tc.response))
			c, err := NewHTTP(HTTPSpec{Path: tc.path}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var msgs [2]string
			for i := range msgs {
				ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
				err := c.Check(ctx, addr)
				cancel()
				if err == nil {
					t.Fatal("the probe passed")
				}
				msgs[i] = Describe(err)
				if err.Error() != msgs[i] {
					t.Errorf("Error() %.80q… is not the message %q", err.Error(), msgs[i])
				}
			}
			msg := msgs[0]
			checkMessageBounded(t, msg)
			if msgs[1] != msg {
				t.Errorf("two probes of the same server: %q, then %q", msg, msgs[1])
			}
			if got := msg; tc.prefix && !strings.HasPrefix(got, tc.want) || !tc.prefix && got != tc.want {
				t.Errorf("message %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDescribeDropsTheRequest(t *testing.T) {
	inner := errors.New(`net/http: HTTP/1.x transport connection broken: unexpected "` + strings.Repeat("\\xff", 3000) + `"`)
	err := &url.Error{Op: "Get", URL: "http://10.1.0.1:80/health?token=SECRET", Err: inner}
	got := Describe(err)
	want := `unexpected "` + strings.Repeat(`\xff`, maxExcerptBytes/4) + ellipsis + `"`
	if got != want {
		t.Errorf("describe = %q, want %q", got, want)
	}
	// Even a message built elsewhere is bounded on its way to status.
	long := &Error{Message: "invalid probe: " + strings.Repeat("é", 1000) + " /x?token=SECRET \x00"}
	got = Describe(long)
	checkMessageBounded(t, got)
	if !strings.HasPrefix(got, "invalid probe: éé") || !strings.HasSuffix(got, ellipsis) {
		t.Errorf("describe = %q", got)
	}
}

func TestBound(t *testing.T) {
	tests := []struct {
		name, in string
		limit    int
		want     string
	}{
		{"short", "connection refused", 256, "connection refused"},
		{"query dropped to the next space", "GET /a?token=SECRET from x", 256, "GET /a from x"},
		{"query dropped to a quote", `url "/a?token=SECRET" end`, 256, `url "/a" end`},
		{"query dropped to the end", "/a?b=c", 256, "/a"},
		{"invalid bytes escaped", "a\xff\xfeb", 256, `a\xff\xfeb`},
		{"control characters escaped", "a\x00\tb\n", 256, `a\x00\tb\n`},
		{"unprintable runes escaped", "a\u200bb", 256, `a\u200bb`},
		{"printable runes kept", "grüße", 256, "grüße"},
		{"exactly the limit", "abcdef", 6, "abcdef"},
		{"cut with an ellipsis", "abcdefg", 6, "abc…"},
		{"an escape is not split", "ab\xff", 5, "ab…"},
		{"a rune is not split", "aéé", 4, "a…"},
		{"no room", "abc", 2, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Bound(tc.in, tc.limit)
			if got != tc.want {
				t.Errorf("Bound(%q, %d) = %q, want %q", tc.in, tc.limit, got, tc.want)
			}
			if len(got) > tc.limit || !utf8.ValidString(got) {
				t.Errorf("Bound(%q, %d) = %q: %d bytes, valid UTF-8 %v", tc.in, tc.limit, got, len(got), utf8.ValidString(got))
			}
		})
	}
	// However long and whatever its bytes, the result is bounded.
	hostile := strings.Repeat("\xff\x00é?", 20000)
	if got := Bound(hostile, MaxMessageBytes); len(got) > MaxMessageBytes || !utf8.ValidString(got) {
		t.Errorf("Bound of %d hostile bytes: %d bytes", len(hostile), len(got))
	}
}

func TestShortenQuoted(t *testing.T) {
	tests := []struct{ in, want string }{
		{`no quotes`, `no quotes`},
		{`short "abc" and "de"`, `short "abc" and "de"`},
		{`long "abcdefgh" end`, `long "abcd…" end`},
		{`escapes "\xff\xff" kept whole`, `escapes "\xff…" kept whole`},
		{`an escaped quote "ab\"cdef"`, `an escaped quote "ab\"…"`},
		{`unclosed "abcdefgh`, `unclosed "abcd…`},
	}
	for _, tc := range tests {
		if got := shortenQuoted(tc.in, 4); got != tc.want {
			t.Errorf("shortenQuoted(%q, 4) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
