package framework

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

const (
	apiServerStartTimeout = 60 * time.Second
	// serviceClusterIPRange is a single IPv4 range: the cluster is IPv4
	// single-stack, so IPv6 Services are rejected as on many real clusters.
	serviceClusterIPRange = "10.96.0.0/16"
	serviceAccountIssuer  = "https://kubernetes.default.svc.cluster.local"
	// restartBindRetry is how long a restart keeps trying to bind the port
	// the API server had before.
	restartBindRetry = 15 * time.Second
)

// apiServer is a kube-apiserver that can be stopped and started again with
// the same flags on the same port.
type apiServer struct {
	binPath string
	logPath string
	logf    func(format string, args ...any)
	args    []string
	port    int
	proc    *process // nil while stopped
}

// apiServerArgs builds the command line for an API server on port.
func apiServerArgs(dir string, port int, etcdURL string, files pkiFiles) []string {
	return []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=" + loopback,
		"--secure-port=" + strconv.Itoa(port),
		// Advertising a loopback address is refused unless the endpoint
		// reconciler, which would publish it in the kubernetes Service's
		// endpoints, is off.
		"--advertise-address=" + loopback,
		"--endpoint-reconciler-type=none",
		// Reach kubelets by their InternalIP: resolving a node's name would
		// ask the machine's DNS server.
		"--kubelet-preferred-address-types=InternalIP",
		"--service-cluster-ip-range=" + serviceClusterIPRange,
		"--authorization-mode=RBAC",
		"--client-ca-file=" + files.caCert,
		"--tls-cert-file=" + files.servingCert,
		"--tls-private-key-file=" + files.servingKey,
		"--cert-dir=" + filepath.Join(dir, "apiserver-certs"),
		"--service-account-issuer=" + serviceAccountIssuer,
		"--service-account-key-file=" + files.serviceAccountKey,
		"--service-account-signing-key-file=" + files.serviceAccountKey,
		"--profiling=false",
		"--shutdown-watch-termination-grace-period=1s",
	}
}

// startAPIServer starts a new API server on a free port, retrying on other
// ports if the chosen one is taken, and waits until it is ready.
func startAPIServer(ctx context.Context, binPath, dir, etcdURL string, files pkiFiles, pk *pki, extraArgs []string, logf func(string, ...any)) (*apiServer, *rest.Config, error) {
	var lastErr error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		ports, err := FreePorts(1)
		if err != nil {
			return nil, nil, err
		}
		s := &apiServer{
			binPath: binPath,
			logPath: filepath.Join(dir, "kube-apiserver.log"),
			logf:    logf,
			// A flag given again in extraArgs overrides the default.
			args: append(apiServerArgs(dir, ports[0], etcdURL, files), extraArgs...),
			port: ports[0],
		}
		cfg, err := adminConfig(s.url(), pk)
		if err != nil {
			return nil, nil, err
		}
		logf("starting kube-apiserver on %s (attempt %d)", s.url(), attempt)
		clash, err := s.start(ctx, cfg)
		if err == nil {
			return s, cfg, nil
		}
		lastErr = err
		if !clash || ctx.Err() != nil {
			return nil, nil, err
		}
		logf("kube-apiserver could not bind its port, retrying with a new one")
	}
	return nil, nil, lastErr
}

// restart starts the API server again with its previous flags and port. The
// port was released a moment ago, so a bind failure is retried for a while.
func (s *apiServer) restart(ctx context.Context, cfg *rest.Config) error {
	if s.proc != nil {
		return fmt.Errorf("kube-apiserver is already running (pid %d)", s.proc.pid())
	}
	deadline := time.Now().Add(restartBindRetry)
	for {
		s.logf("restarting kube-apiserver on %s", s.url())
		clash, err := s.start(ctx, cfg)
		if err == nil || !clash || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		s.logf("port %d is still in use, retrying", s.port)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// start runs the process and waits for readiness. On failure the process is
// stopped and clash tells whether it failed because the port was taken.
func (s *apiServer) start(ctx context.Context, cfg *rest.Config) (clash bool, err error) {
	proc, err := startProcess("kube-apiserver", s.binPath, s.args, s.logPath, s.logf)
	if err != nil {
		return false, err
	}
	if err := waitAPIServerReady(ctx, proc, cfg); err != nil {
		clash = proc.exited() && proc.bindClash()
		tail := proc.logTail()
		stopErr := proc.stop(stopGrace)
		return clash, errors.Join(fmt.Errorf("kube-apiserver did not become ready: %w%s", err, tail), stopErr)
	}
	s.proc = proc
	return false, nil
}

// stop stops the running API server, if any.
func (s *apiServer) stop(grace time.Duration) error {
	if s.proc == nil {
		return nil
	}
	err := s.proc.stop(grace)
	s.proc = nil
	return err
}

func (s *apiServer) url() string {
	return "https://" + net.JoinHostPort(loopback, strconv.Itoa(s.port))
}

// waitAPIServerReady polls /readyz as the admin until it answers ok.
func waitAPIServerReady(ctx context.Context, proc *process, cfg *rest.Config) error {
	ctx, cancel := context.WithTimeout(ctx, apiServerStartTimeout)
	defer cancel()
	probeCfg := rest.CopyConfig(cfg)
	probeCfg.Timeout = 2 * time.Second
	cs, err := kubernetes.NewForConfig(probeCfg)
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	var lastErr error
	for {
		if proc.exited() {
			return proc.exitError()
		}
		_, lastErr = cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if lastErr == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last /readyz check: %v)", ctx.Err(), lastErr)
		case <-proc.done:
		case <-time.After(100 * time.Millisecond):
		}
	}
}
