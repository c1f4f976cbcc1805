package check

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"sync"
	"time"
)

// CertRecorder receives the earliest notAfter of the certificate chain a
// TLS probe's peer presented. The engine puts one in each probe's context
// (WithCertRecorder) and reads it once Check returns; every check that
// makes a TLS handshake (HTTPS, gRPC, TCP and Redis over TLS) fills it,
// every other check leaves it empty.
//
// Why a recorder in the context and not a result type returned by Check:
// only four of the nine kinds ever see a certificate, and the handshake
// happens deep inside net/http and gRPC, which hand back an error or a
// response, not a value of ours. A recorder reaches those places without
// changing the signature every Checker, test double and caller shares,
// and a Checker that knows nothing of TLS needs no change at all.
//
// The chain is recorded whether or not it verified: with
// insecureSkipVerify, and also when verification failed (an expired
// certificate, an unknown authority), since the date is a fact about what
// the endpoint serves, and the probe's verdict says whether it is
// trusted. It is safe for concurrent use: a gRPC handshake runs on a
// goroutine of its own, which may finish after Check returned.
type CertRecorder struct {
	mu       sync.Mutex
	notAfter time.Time
}

type certRecorderKey struct{}

// WithCertRecorder returns ctx carrying r, which the TLS handshakes of a
// probe run with that context fill.
func WithCertRecorder(ctx context.Context, r *CertRecorder) context.Context {
	return context.WithValue(ctx, certRecorderKey{}, r)
}

// NotAfter is the earliest notAfter recorded, or the zero time when the
// probe saw no certificate (no TLS, or it failed before the server sent
// one).
func (r *CertRecorder) NotAfter() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.notAfter
}

// add records the earliest notAfter of certs.
func (r *CertRecorder) add(certs []*x509.Certificate) {
	if r == nil || len(certs) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range certs {
		// A date before 1970 is long expired whatever it is; clamped,
		// it cannot be the zero time that means "no certificate".
		notAfter := c.NotAfter
		if notAfter.Before(time.Unix(0, 0)) {
			notAfter = time.Unix(0, 0).UTC()
		}
		if r.notAfter.IsZero() || notAfter.Before(r.notAfter) {
			r.notAfter = notAfter
		}
	}
}

// certRecorderOf is the recorder ctx carries, or nil.
func certRecorderOf(ctx context.Context) *CertRecorder {
	r, _ := ctx.Value(certRecorderKey{}).(*CertRecorder)
	return r
}

// recordHandshake records into r the chain of one handshake: the peer's
// certificates of state after a handshake that completed, or those a
// failed verification carries (tls.CertificateVerificationError holds the
// whole chain the server sent, not only the certificate that failed).
func (r *CertRecorder) recordHandshake(state *tls.ConnectionState, err error) {
	if r == nil {
		return
	}
	if state != nil {
		r.add(state.PeerCertificates)
	}
	var verifyErr *tls.CertificateVerificationError
	if errors.As(err, &verifyErr) {
		r.add(verifyErr.UnverifiedCertificates)
	}
}
