package check

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/crddemo/crddemo/test/testca"
)

// testCA is the shared test CA (test/testca) with the spelling the
// check tests use.
type testCA struct {
	*testca.CA
	pem []byte
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	return newTestCAUntil(t, time.Now().Add(365*24*time.Hour))
}

// newTestCAUntil is a test CA valid until notAfter.
func newTestCAUntil(t testing.TB, notAfter time.Time) *testCA {
	t.Helper()
	ca := testca.New(t, notAfter)
	return &testCA{CA: ca, pem: ca.PEM}
}

// issue returns a server certificate for the DNS name and 127.0.0.1,
// valid until notAfter.
func (ca *testCA) issue(t testing.TB, dnsName string, notAfter time.Time) tls.Certificate {
	t.Helper()
	return ca.Issue(t, notAfter, dnsName, "127.0.0.1")
}
