package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
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
	msgNoHealthService = "gRPC: no health service"
	msgNotServing      = "gRPC NOT_SERVING"
	msgGRPCUnavailable = "gRPC: unavailable (connection closed, or not a gRPC server)"
)

// CheckError is a failed probe. Error returns Message, the stable text for
// status; Unwrap returns the cause with its details, for logs.
type CheckError struct {
	Message string
	Err     error
}

func (e *CheckError) Error() string { return e.Message }
func (e *CheckError) Unwrap() error { return e.Err }

// newCheckError wraps err with the message describe gives it.
func newCheckError(err error) *CheckError {
	var ce *CheckError
	if errors.As(err, &ce) {
		return ce
	}
	return &CheckError{Message: describe(err), Err: err}
}

// describe reduces err to the part a user can act on. A raw error such as
// "dial tcp 10.0.0.1:80: connect: connection refused" repeats the
// address, which the object already shows, and some (a certificate's
// validity window, a TLS record's bytes) change from one attempt to the
// next, which would rewrite the status on every probe.
func describe(err error) string {
	if err == nil {
		return ""
	}
	var ce *CheckError
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
	// net/http reports these as plain strings.
	switch s := err.Error(); {
	case strings.Contains(s, "server closed idle connection"):
		return msgClosed
	case strings.Contains(s, "malformed HTTP response"):
		return msgNotHTTP
	case strings.Contains(s, "server gave HTTP response to HTTPS client"):
		return msgNotTLS
	case strings.Contains(s, "server response headers exceeded"):
		return msgHeadersTooLarge
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Err != nil {
		return opErr.Err.Error()
	}
	return err.Error()
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
