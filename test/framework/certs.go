package framework

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

const (
	certValidity = 365 * 24 * time.Hour
	// clockSkew back-dates certificates so that they are valid at once even
	// if clocks differ slightly.
	clockSkew = time.Hour
)

// pki holds the credentials the framework generates for one control plane:
// a CA that signs the API server's serving certificate and every client
// certificate, and the key that signs service account tokens.
type pki struct {
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caPEM  []byte

	servingCertPEM []byte
	servingKeyPEM  []byte

	serviceAccountKeyPEM []byte
}

// pkiFiles are the paths the API server reads its credentials from.
type pkiFiles struct {
	caCert            string
	servingCert       string
	servingKey        string
	serviceAccountKey string
}

func newPKI() (*pki, error) {
	caKey, err := newKey()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTemplate := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "crddemo-test-ca"},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caCert, err := createCert(caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	p := &pki{caCert: caCert, caKey: caKey, caPEM: encodeCert(caCert)}

	servingKey, err := newKey()
	if err != nil {
		return nil, err
	}
	servingCert, err := p.sign(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{
			"localhost",
			"kubernetes",
			"kubernetes.default",
			"kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local",
		},
		// 10.96.0.1 is the first address of the service range, which the
		// API server would give the kubernetes Service.
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(10, 96, 0, 1)},
	}, &servingKey.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("create serving certificate: %w", err)
	}
	p.servingCertPEM = encodeCert(servingCert)
	if p.servingKeyPEM, err = encodeKey(servingKey); err != nil {
		return nil, err
	}

	saKey, err := newKey()
	if err != nil {
		return nil, err
	}
	if p.serviceAccountKeyPEM, err = encodeKey(saKey); err != nil {
		return nil, err
	}
	return p, nil
}

// clientCert issues a client certificate for user in groups, which the API
// server maps to that identity.
func (p *pki) clientCert(user string, groups []string) (certPEM, keyPEM []byte, err error) {
	if user == "" {
		return nil, nil, fmt.Errorf("client certificate: user name must not be empty")
	}
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	cert, err := p.sign(&x509.Certificate{
		Subject:     pkix.Name{CommonName: user, Organization: groups},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, &key.PublicKey)
	if err != nil {
		return nil, nil, fmt.Errorf("client certificate for %q: %w", user, err)
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return encodeCert(cert), keyPEM, nil
}

// sign completes a leaf template with validity and usage and signs it with
// the CA.
func (p *pki) sign(template *x509.Certificate, pub *ecdsa.PublicKey) (*x509.Certificate, error) {
	now := time.Now()
	template.NotBefore = now.Add(-clockSkew)
	template.NotAfter = now.Add(certValidity)
	template.KeyUsage = x509.KeyUsageDigitalSignature
	template.BasicConstraintsValid = true
	return createCert(template, p.caCert, pub, p.caKey)
}

// write stores the files the API server needs in dir.
func (p *pki) write(dir string) (pkiFiles, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return pkiFiles{}, fmt.Errorf("create certificate directory: %w", err)
	}
	files := pkiFiles{
		caCert:            filepath.Join(dir, "ca.crt"),
		servingCert:       filepath.Join(dir, "apiserver.crt"),
		servingKey:        filepath.Join(dir, "apiserver.key"),
		serviceAccountKey: filepath.Join(dir, "service-account.key"),
	}
	for path, data := range map[string][]byte{
		files.caCert:            p.caPEM,
		files.servingCert:       p.servingCertPEM,
		files.servingKey:        p.servingKeyPEM,
		files.serviceAccountKey: p.serviceAccountKeyPEM,
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return pkiFiles{}, fmt.Errorf("write %s: %w", path, err)
		}
	}
	// The CA key is written only for people debugging a kept directory; the
	// framework signs from memory.
	caKeyPEM, err := encodeKey(p.caKey)
	if err != nil {
		return pkiFiles{}, err
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.key"), caKeyPEM, 0o600); err != nil {
		return pkiFiles{}, fmt.Errorf("write CA key: %w", err)
	}
	return files, nil
}

func newKey() (*ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ECDSA key: %w", err)
	}
	return key, nil
}

func createCert(template, parent *x509.Certificate, pub *ecdsa.PublicKey, signer *ecdsa.PrivateKey) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	template.SerialNumber = serial
	der, err := x509.CreateCertificate(rand.Reader, template, parent, pub, signer)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

func encodeCert(cert *x509.Certificate) []byte {
	// Encoding into memory cannot fail.
	out, _ := certutil.EncodeCertificates(cert)
	return out
}

// encodeKey uses the SEC 1 "EC PRIVATE KEY" form, which every Kubernetes
// key-file flag accepts (including --service-account-key-file, which derives
// the public key from it).
func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	out, err := keyutil.MarshalPrivateKeyToPEM(key)
	if err != nil {
		return nil, fmt.Errorf("encode ECDSA key: %w", err)
	}
	return out, nil
}
