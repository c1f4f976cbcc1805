package check

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// TLSSpec is the TLS client of an HTTPS or gRPC probe.
type TLSSpec struct {
	// ServerName is sent in SNI and checked against the certificate.
	// Empty means the Host of the HTTP request when one is set, or else
	// the probed IP address (which the certificate must then list).
	ServerName string
	// CABundle holds PEM certificates that may sign the server's
	// certificate. Empty means the system's trusted roots.
	CABundle []byte
	// InsecureSkipVerify accepts any certificate.
	InsecureSkipVerify bool
}

// streamConfig is the TLS client of a check that speaks its protocol on
// a plain stream (TCP send/expect, Redis): nil, plain text, when s is nil;
// the server name defaults to the endpoint's address and no ALPN is asked.
func (s *TLSSpec) streamConfig() (*tls.Config, error) {
	if s == nil {
		return nil, nil
	}
	return s.clientConfig("", nil)
}

// clientConfig builds the tls.Config of s. defaultName is the server name
// to use when s has none ("" leaves it to the address).
//
// Every probe makes a full handshake: there is no session cache, so a
// certificate that expires or a CA that is removed fails the next probe,
// not the next time a ticket runs out.
func (s *TLSSpec) clientConfig(defaultName string, nextProtos []string) (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         s.ServerName,
		InsecureSkipVerify: s.InsecureSkipVerify, //nolint:gosec // an explicit opt-in of the spec
		NextProtos:         nextProtos,
	}
	if cfg.ServerName == "" {
		cfg.ServerName = defaultName
	}
	if len(s.CABundle) > 0 {
		pool, err := parseCABundle(s.CABundle)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// parseCABundle reads every PEM block of bundle. Unlike
// x509.CertPool.AppendCertsFromPEM it fails on a block it cannot use,
// so a bundle with a broken certificate is reported instead of
// silently trusting fewer CAs than the user wrote.
func parseCABundle(bundle []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for rest := bundle; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		n++
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("caBundle: PEM block %d is a %s, not a CERTIFICATE", n, block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("caBundle: certificate %d: %w", n, err)
		}
		pool.AddCert(cert)
	}
	if n == 0 {
		return nil, errors.New("caBundle: no PEM certificate")
	}
	return pool, nil
}
