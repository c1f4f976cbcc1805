package check

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"
)

// Bounds of the text a probe puts in status and Events. A target is run by
// someone the controller does not trust, and status has to fit in one
// object next to a thousand other endpoints' messages, so nothing a target
// sends may make a message long, unprintable or different on every probe.
const (
	// MaxMessageBytes bounds every message of a failed probe. The
	// controller bounds every other message it puts in status by it too.
	MaxMessageBytes = 256
	// maxExcerptBytes bounds a quoted excerpt of what a server sent, such
	// as the value of a malformed header.
	maxExcerptBytes = 32
	// maxPathBytes bounds the request path a message names: a path may be
	// 2 KiB long, and its start tells which check failed.
	maxPathBytes = 64
	// ellipsis ends a text that was cut.
	ellipsis = "…"
	// transportBroken prefixes net/http's errors about a response it
	// could not parse; the rest says what was wrong with it.
	transportBroken = "net/http: HTTP/1.x transport connection broken: "
)

// Messages of failed probes. They are part of the user interface: they go
// into status and Events, so each says what happened in the user's terms
// and is the same text every time the same failure happens.
const (
	msgTimeout         = "i/o timeout"
	msgCanceled        = "probe cancelled"
	msgClosed          = "connection closed before an answer"
	msgUnknownCA       = "TLS: certificate signed by unknown authority"
	msgCertExpired     = "TLS: certificate has expired or is not yet valid"
	msgCertInvalid     = "TLS: certificate is not valid"
	msgNotTLS          = "TLS: the server did not answer with TLS"
	msgNotHTTP         = "not an HTTP response"
	msgHeadersTooLarge = "HTTP response headers too large"
	msgBadHeaders      = "malformed HTTP response headers"
	msgNoHealthService = "gRPC: no health service"
	msgNotServing      = "gRPC NOT_SERVING"
	msgGRPCUnavailable = "gRPC: unavailable (connection closed, or not a gRPC server)"
	msgNotRedis        = "Redis: not a Redis answer"
	msgNotPostgres     = "PostgreSQL: not a PostgreSQL answer"
	msgNotMySQL        = "MySQL: not a MySQL greeting"
	msgUDPUnreachable  = "UDP: port unreachable"
	msgUDPNoReply      = "UDP: no reply"
	msgDNSUnreachable  = "DNS: port unreachable"
	msgDNSNoReply      = "DNS: no reply"
	msgDNSNoAnswer     = "DNS: no answer"
	msgNotDNS          = "DNS: not a DNS answer"
)

// expectedGot is the message of an answer that lacks what was expected:
// both quoted as Go quotes them, each cut to maxExcerptBytes. The line
// end of a text answer is left out, so that "-ERR x\r\n" reads as "-ERR x".
func expectedGot(expect, got []byte) string {
	got = bytes.TrimRight(got, "\r\n")
	return "expected " + excerpt(expect) + ", got " + excerpt(got)
}

// excerpt quotes b, cut to maxExcerptBytes of quoted text.
func excerpt(b []byte) string {
	return shortenQuoted(strconv.Quote(string(b)), maxExcerptBytes)
}

// Error is a failed probe. Error returns Message, the stable text for
// status; Unwrap returns the cause with its details, for logs.
type Error struct {
	Message string
	Err     error
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Err }

// wrapError wraps err with the message Describe gives it.
func wrapError(err error) *Error {
	var ce *Error
	if errors.As(err, &ce) {
		return ce
	}
	return &Error{Message: Describe(err), Err: err}
}

// Describe reduces err to the part a user can act on, bounded by Bound to
// MaxMessageBytes. It is where every probe failure becomes the text of
// status and Events, so the bound applies here whatever built the error. A
// raw error such as "dial tcp 10.0.0.1:80: connect: connection refused"
// repeats the address, which the object already shows, and some (a
// certificate's validity window, a TLS record's bytes) change from one
// attempt to the next, which would rewrite the status on every probe.
func Describe(err error) string {
	if err == nil {
		return ""
	}
	return Bound(summarize(err), MaxMessageBytes)
}

// summarize is Describe without the bound.
func summarize(err error) string {
	var ce *Error
	if errors.As(err, &ce) {
		return ce.Message
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return msgTimeout
	}
	if errors.Is(err, context.Canceled) {
		return msgCanceled
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return msgTimeout
	}
	if m := describeTLS(err); m != "" {
		return m
	}
	// A server that closes the connection instead of answering shows as
	// EOF, a reset or a broken pipe depending on whether the request was
	// still unread in its buffer: one message for all, so that the
	// status does not flip between them from probe to probe.
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return msgClosed
	}
	// The errno text is short and stable: "connection refused", "no
	// route to host", "network is unreachable".
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	// net/http reports these as plain strings, which quote the server's
	// bytes, as many as it sent.
	switch s := err.Error(); {
	case strings.Contains(s, "server closed idle connection"):
		return msgClosed
	case strings.Contains(s, "malformed HTTP response"),
		strings.Contains(s, "malformed HTTP status code"),
		strings.Contains(s, "malformed HTTP version"):
		return msgNotHTTP
	case strings.Contains(s, "server gave HTTP response to HTTPS client"):
		return msgNotTLS
	case strings.Contains(s, "server response headers exceeded"):
		return msgHeadersTooLarge
	case strings.Contains(s, "malformed MIME header"):
		return msgBadHeaders
	}
	// Anything else is the innermost text that does not repeat the
	// request: a url.Error names the whole URL, query included, and an
	// OpError the addresses. What the server sent is kept to an excerpt.
	text := err.Error()
	var urlErr *url.Error
	var opErr *net.OpError
	switch {
	case errors.As(err, &urlErr) && urlErr.Err != nil:
		text = urlErr.Err.Error()
	case errors.As(err, &opErr) && opErr.Err != nil:
		text = opErr.Err.Error()
	}
	return shortenQuoted(strings.TrimPrefix(text, transportBroken), maxExcerptBytes)
}

// describeTLS names a TLS failure, or returns "" for any other error.
func describeTLS(err error) string {
	var unknownCA x509.UnknownAuthorityError
	if errors.As(err, &unknownCA) {
		return msgUnknownCA
	}
	var hostErr x509.HostnameError
	if errors.As(err, &hostErr) {
		// The name is the one the probe asked for, which only changes
		// with the spec.
		return "TLS: certificate is not valid for " + hostErr.Host
	}
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) {
		if invalid.Reason == x509.Expired {
			return msgCertExpired
		}
		return msgCertInvalid
	}
	var recErr tls.RecordHeaderError
	if errors.As(err, &recErr) {
		return msgNotTLS
	}
	var alert tls.AlertError
	if errors.As(err, &alert) {
		return "TLS: the server refused the handshake (" + strings.TrimPrefix(alert.Error(), "tls: ") + ")"
	}
	var verifyErr *tls.CertificateVerificationError
	if errors.As(err, &verifyErr) {
		return msgCertInvalid
	}
	return ""
}

// Bound returns s as text for status and Events, in at most limit bytes:
// valid UTF-8 and printable (any other byte or rune is escaped as
// strconv.Quote escapes it), without a URL's query (from a '?' to the next
// space or double quote: a query may carry a token), and cut with "…" when
// longer. The same s always gives the same text, so a bounded message
// still costs no status write when the failure repeats.
func Bound(s string, limit int) string {
	if limit < len(ellipsis) {
		return ""
	}
	var b strings.Builder
	// fits is how much of b may stay when the text has to be cut: room
	// is left for the ellipsis, and no escape is split.
	fits := 0
	inQuery := false
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		piece := s[:size]
		s = s[size:]
		if r == '?' {
			inQuery = true
		}
		if inQuery {
			if r != ' ' && r != '"' {
				continue
			}
			inQuery = false
		}
		switch {
		case r == utf8.RuneError && size == 1:
			piece = fmt.Sprintf(`\x%02x`, piece[0])
		case !unicode.IsPrint(r):
			piece = strings.Trim(strconv.QuoteRune(r), "'")
		}
		if b.Len()+len(piece) > limit {
			return b.String()[:fits] + ellipsis
		}
		b.WriteString(piece)
		if b.Len() <= limit-len(ellipsis) {
			fits = b.Len()
		}
	}
	return b.String()
}

// shortenQuoted cuts the content of every double-quoted part of s to at
// most limit bytes, ending a cut one with "…". net/http and net/textproto
// quote with %q what a server sent that they could not parse; the start of
// it is enough to recognise, and the rest is the server's, as long as it
// likes.
func shortenQuoted(s string, limit int) string {
	var b strings.Builder
	for {
		open := strings.IndexByte(s, '"')
		if open < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:open+1])
		s = s[open+1:]
		kept, cut := 0, false
		for len(s) > 0 && s[0] != '"' {
			n := quotedCharLen(s)
			if !cut && kept+n <= limit {
				b.WriteString(s[:n])
				kept += n
			} else {
				cut = true
			}
			s = s[n:]
		}
		if cut {
			b.WriteString(ellipsis)
		}
		if len(s) == 0 {
			return b.String()
		}
		b.WriteByte('"')
		s = s[1:]
	}
}

// quotedCharLen is the length of the first character of s, a non-empty
// part of a %q-quoted string: an escape such as \xff or \u00e9 counts as
// one, so a cut never splits it.
func quotedCharLen(s string) int {
	if s[0] != '\\' || len(s) == 1 {
		_, n := utf8.DecodeRuneInString(s)
		return n
	}
	n := 2
	switch s[1] {
	case 'x':
		n = 4
	case 'u':
		n = 6
	case 'U':
		n = 10
	case '0', '1', '2', '3', '4', '5', '6', '7':
		n = 4
	}
	return min(n, len(s))
}
