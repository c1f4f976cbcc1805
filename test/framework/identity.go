package framework

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
)

const (
	// clientQPS and clientBurst keep client-side throttling out of the way
	// of tests.
	clientQPS   = 500
	clientBurst = 1000
	// adminUser is the CommonName of the admin client certificate.
	adminUser = "crddemo-test-admin"
	// serviceAccountTokenSeconds is the lifetime requested for service
	// account tokens; long enough for a `make run` session.
	serviceAccountTokenSeconds = 24 * 60 * 60
)

// adminConfig returns a config for host that authenticates as a member of
// system:masters, which RBAC lets do everything.
func adminConfig(host string, pk *pki) (*rest.Config, error) {
	certPEM, keyPEM, err := pk.clientCert(adminUser, []string{"system:masters"})
	if err != nil {
		return nil, err
	}
	cfg := hostConfig(host, pk)
	cfg.CertData, cfg.KeyData = certPEM, keyPEM
	return cfg, nil
}

// hostConfig is a config for host that trusts the framework's CA and has no
// credentials.
func hostConfig(host string, pk *pki) *rest.Config {
	return &rest.Config{
		Host:            host,
		TLSClientConfig: rest.TLSClientConfig{CAData: pk.caPEM},
		QPS:             clientQPS,
		Burst:           clientBurst,
	}
}

// hostConfig is a credential-less config for this control plane.
func (cp *ControlPlane) hostConfig() *rest.Config {
	return hostConfig(cp.Config.Host, cp.pki)
}

// UserConfig returns a config that authenticates with a client certificate,
// signed by the control plane's client CA, for user in groups. Without RBAC
// bindings such a user may do almost nothing; use the group system:masters
// for full access.
func (cp *ControlPlane) UserConfig(user string, groups ...string) (*rest.Config, error) {
	certPEM, keyPEM, err := cp.pki.clientCert(user, groups)
	if err != nil {
		return nil, err
	}
	cfg := cp.hostConfig()
	cfg.CertData, cfg.KeyData = certPEM, keyPEM
	return cfg, nil
}

// ServiceAccountConfig returns a config that authenticates as the service
// account namespace/name with a bearer token from the TokenRequest API. The
// service account is created if it does not exist; the namespace must.
func (cp *ControlPlane) ServiceAccountConfig(ctx context.Context, namespace, name string) (*rest.Config, error) {
	cs, err := kubernetes.NewForConfig(cp.Config)
	if err != nil {
		return nil, fmt.Errorf("create client: %w", err)
	}
	sas := cs.CoreV1().ServiceAccounts(namespace)
	_, err = sas.Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: name},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("create service account %s/%s: %w", namespace, name, err)
	}
	token, err := sas.CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			ExpirationSeconds: ptr.To[int64](serviceAccountTokenSeconds),
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("request token for service account %s/%s: %w", namespace, name, err)
	}
	cfg := cp.hostConfig()
	cfg.BearerToken = token.Status.Token
	return cfg, nil
}

// WriteKubeconfig writes a kubeconfig file for cfg, with all credentials
// embedded, so that kubectl or a separately started binary can act as the
// same identity. The file is readable only by its owner.
func (cp *ControlPlane) WriteKubeconfig(path string, cfg *rest.Config) error {
	if cfg == nil {
		return fmt.Errorf("write kubeconfig %s: nil config", path)
	}
	caData, err := fileOrData(cfg.CAData, cfg.CAFile)
	if err != nil {
		return fmt.Errorf("write kubeconfig %s: CA: %w", path, err)
	}
	certData, err := fileOrData(cfg.CertData, cfg.CertFile)
	if err != nil {
		return fmt.Errorf("write kubeconfig %s: client certificate: %w", path, err)
	}
	keyData, err := fileOrData(cfg.KeyData, cfg.KeyFile)
	if err != nil {
		return fmt.Errorf("write kubeconfig %s: client key: %w", path, err)
	}
	token := cfg.BearerToken
	if token == "" && cfg.BearerTokenFile != "" {
		data, err := os.ReadFile(cfg.BearerTokenFile)
		if err != nil {
			return fmt.Errorf("write kubeconfig %s: bearer token: %w", path, err)
		}
		token = string(data)
	}

	const name = "crddemo-test"
	kc := clientcmdapi.NewConfig()
	kc.Clusters[name] = &clientcmdapi.Cluster{
		Server:                   cfg.Host,
		CertificateAuthorityData: caData,
		TLSServerName:            cfg.ServerName,
		InsecureSkipTLSVerify:    cfg.Insecure,
	}
	kc.AuthInfos[name] = &clientcmdapi.AuthInfo{
		ClientCertificateData: certData,
		ClientKeyData:         keyData,
		Token:                 token,
		Username:              cfg.Username,
		Password:              cfg.Password,
		Impersonate:           cfg.Impersonate.UserName,
		ImpersonateUID:        cfg.Impersonate.UID,
		ImpersonateGroups:     cfg.Impersonate.Groups,
		ImpersonateUserExtra:  cfg.Impersonate.Extra,
	}
	kc.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name, Namespace: "default"}
	kc.CurrentContext = name

	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("write kubeconfig %s: %w", path, err)
		}
	}
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	// WriteToFile keeps the mode of an existing file; credentials stay
	// private either way.
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}

// fileOrData returns data, or the contents of file when data is empty.
func fileOrData(data []byte, file string) ([]byte, error) {
	if len(data) > 0 || file == "" {
		return data, nil
	}
	return os.ReadFile(file)
}
