package framework

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

const (
	// BinDirEnv names the environment variable that overrides where the
	// control plane binaries are looked up.
	BinDirEnv = "CRDDEMO_BIN_DIR"

	modulePath = "github.com/crddemo/crddemo"
	// tempDirPattern names the state directories the framework creates and
	// removes itself.
	tempDirPattern = "crddemo-controlplane-"
	// ownerFile records, in a framework-created directory, the pid of the
	// process that created it, so that directories left by a killed test
	// binary can be recognised and removed later.
	ownerFile = "owner.pid"
)

// Options configures Start. The zero value starts etcd and kube-apiserver
// with the CRDs of <repo>/crd installed, in a temporary directory.
type Options struct {
	// ControllerManager starts kube-controller-manager with only the
	// garbage-collector-controller and namespace-controller (true in normal
	// test use). Start returns once the garbage collector is working.
	ControllerManager bool
	// CRDDir is the directory of CRD YAML installed (and waited for
	// Established) before the controller manager starts, so that the
	// garbage collector knows the custom resources from the beginning.
	// Default: <repo>/crd.
	CRDDir string
	// Dir is the state directory (etcd data, certificates, kubeconfigs,
	// logs). By default a fresh temporary directory is created and removed
	// by Stop. A directory given by the caller is kept by Stop; Start always
	// begins with an empty cluster and overwrites what an earlier run left.
	Dir string
	// APIServerFlags are added to kube-apiserver's command line; a flag
	// given here overrides the framework's value (for example
	// --service-cluster-ip-range with an IPv6 range for a dual-stack
	// cluster).
	APIServerFlags []string
	// Node, when set, also starts a real node (see Node) once the control
	// plane is ready; it needs root, containerd, runc, the CNI plugins and
	// the kubelet, kube-proxy and kube-scheduler binaries.
	Node *NodeOptions
	// Logf receives progress lines; by default they are discarded. The
	// output of the components goes to <Dir>/<component>.log.
	Logf func(format string, args ...any)
}

// ControlPlane is a running local control plane. Its methods are safe for
// concurrent use.
type ControlPlane struct {
	// Config authenticates as an admin (group system:masters) and has high
	// client-side rate limits. Copy it (rest.CopyConfig) before changing it.
	Config *rest.Config
	// KubeconfigPath is an admin kubeconfig in Dir, usable by kubectl and by
	// a separately run controller binary.
	KubeconfigPath string
	// Dir is the state directory.
	Dir string

	logf    func(format string, args ...any)
	ownsDir bool
	bins    binaries
	pki     *pki

	mu        sync.Mutex // serialises Stop, StopAPIServer and StartAPIServer
	stopped   bool
	etcd      *etcdServer
	apiServer *apiServer
	kcm       *process
	node      *Node
}

// binaries are the paths of the executables the framework runs.
type binaries struct {
	etcd, apiServer, controllerManager, kubectl string
}

// Start starts a control plane and returns once it is ready: the API server
// answers /readyz, the CRDs are Established and, with
// Options.ControllerManager, the garbage collector has deleted a test
// object. ctx bounds only the start-up; the processes run until Stop. On
// error everything started so far is stopped again.
func Start(ctx context.Context, opts Options) (*ControlPlane, error) {
	begin := time.Now()
	cp := &ControlPlane{logf: opts.Logf}
	if cp.logf == nil {
		cp.logf = func(string, ...any) {}
	}
	// start records each component as soon as it runs, so Stop undoes
	// exactly what a failed start got done.
	if err := cp.start(ctx, opts); err != nil {
		err = fmt.Errorf("start control plane: %w", err)
		if stopErr := cp.Stop(); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("clean up after failed start: %w", stopErr))
		}
		return nil, err
	}
	cp.logf("control plane ready in %s at %s (state in %s)",
		time.Since(begin).Round(time.Millisecond), cp.Config.Host, cp.Dir)
	return cp, nil
}

func (cp *ControlPlane) start(ctx context.Context, opts Options) error {
	var root string // repository root, found only if needed
	repoRoot := func() (string, error) {
		if root != "" {
			return root, nil
		}
		var err error
		root, err = RepoRoot()
		return root, err
	}

	bins, err := findBinaries(repoRoot, opts.ControllerManager)
	if err != nil {
		return err
	}
	cp.bins = bins

	crdDir := opts.CRDDir
	if crdDir == "" {
		r, err := repoRoot()
		if err != nil {
			return fmt.Errorf("locate default CRD directory: %w", err)
		}
		crdDir = filepath.Join(r, "crd")
	}
	// Read the CRDs before starting anything, so that a broken file fails
	// fast.
	crds, err := readCRDs(crdDir)
	if err != nil {
		return fmt.Errorf("read CRDs: %w", err)
	}

	if err := cp.prepareDir(opts.Dir); err != nil {
		return err
	}

	if cp.pki, err = newPKI(); err != nil {
		return err
	}
	files, err := cp.pki.write(filepath.Join(cp.Dir, "pki"))
	if err != nil {
		return err
	}

	etcd, err := startEtcd(ctx, bins.etcd, cp.Dir, cp.logf)
	if err != nil {
		return err
	}
	cp.mu.Lock()
	cp.etcd = etcd
	cp.mu.Unlock()

	apiStart := time.Now()
	apiServer, cfg, err := startAPIServer(ctx, bins.apiServer, cp.Dir, etcd.clientURL, files, cp.pki, opts.APIServerFlags, cp.logf)
	if err != nil {
		return err
	}
	cp.mu.Lock()
	cp.apiServer = apiServer
	cp.mu.Unlock()
	cp.Config = cfg
	cp.logf("kube-apiserver ready after %s", time.Since(apiStart).Round(time.Millisecond))

	cp.KubeconfigPath = filepath.Join(cp.Dir, "admin.kubeconfig")
	if err := cp.WriteKubeconfig(cp.KubeconfigPath, cp.Config); err != nil {
		return err
	}
	if err := waitSystemNamespaces(ctx, cp.Config); err != nil {
		return err
	}

	names, undelayed, err := installCRDs(ctx, cp.Config, crds)
	if err != nil {
		return fmt.Errorf("install CRDs from %s: %w", crdDir, err)
	}
	cp.logf("CRDs established: %s", strings.Join(names, ", "))

	if opts.ControllerManager {
		kcm, err := startControllerManager(ctx, cp, bins.controllerManager)
		if err != nil {
			return err
		}
		cp.mu.Lock()
		cp.kcm = kcm
		cp.mu.Unlock()
	}

	if opts.Node != nil {
		if _, err := cp.startNode(ctx, *opts.Node); err != nil {
			return err
		}
	}

	// The first creates of custom resources right after their CRD is
	// Established are held for two seconds; let that window pass here,
	// mostly overlapped with the controller manager's start-up.
	if wait := time.Until(undelayed); wait > 0 {
		cp.logf("waiting %s until custom resources can be created without delay", wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	return nil
}

// prepareDir creates the state directory, or clears the state a previous
// run left in a caller-owned one.
func (cp *ControlPlane) prepareDir(dir string) error {
	removeStaleTempDirs(cp.logf)
	if dir == "" {
		d, err := os.MkdirTemp("", tempDirPattern)
		if err != nil {
			return fmt.Errorf("create state directory: %w", err)
		}
		cp.Dir, cp.ownsDir = d, true
		owner := []byte(strconv.Itoa(os.Getpid()))
		if err := os.WriteFile(filepath.Join(d, ownerFile), owner, 0o600); err != nil {
			return fmt.Errorf("record owner of state directory: %w", err)
		}
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("state directory %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	cp.Dir = abs
	for _, stale := range []string{"etcd", "pki", "apiserver-certs", "kubectl-cache"} {
		if err := os.RemoveAll(filepath.Join(abs, stale)); err != nil {
			return fmt.Errorf("clear state of a previous run: %w", err)
		}
	}
	for _, log := range []string{"etcd.log", "kube-apiserver.log", "kube-controller-manager.log"} {
		if err := os.Remove(filepath.Join(abs, log)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("clear state of a previous run: %w", err)
		}
	}
	return nil
}

// removeStaleTempDirs deletes framework-created directories whose creator is
// gone, which happens when a test binary is killed or crashes. Its children
// died with it (see childSysProcAttr), so nothing uses these directories.
func removeStaleTempDirs(logf func(string, ...any)) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), tempDirPattern+"*"))
	for _, dir := range dirs {
		data, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue // not ours, or still being set up
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || pid <= 0 || processAlive(pid) {
			continue
		}
		if err := os.RemoveAll(dir); err == nil {
			logf("removed %s, left behind by exited process %d", dir, pid)
		}
	}
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// waitSystemNamespaces waits for the namespaces the API server creates
// right after it starts serving.
func waitSystemNamespaces(ctx context.Context, cfg *rest.Config) error {
	ctx, cancel := context.WithTimeout(ctx, apiServerStartTimeout)
	defer cancel()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	for _, ns := range []string{"default", canaryNamespace} {
		for {
			_, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			if err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("namespace %s not created by kube-apiserver: %w", ns, errors.Join(ctx.Err(), err))
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}

// Stop stops kube-controller-manager, kube-apiserver and etcd (SIGTERM,
// then SIGKILL after a grace period) and removes Dir unless the caller chose
// it. It may be called more than once, also concurrently.
func (cp *ControlPlane) Stop() error {
	return cp.shutdown(stopGrace)
}

// kill is Stop without the grace period: every component gets SIGKILL at
// once. It is used on interrupts, where a prompt exit matters more than a
// tidy one.
func (cp *ControlPlane) kill() error {
	return cp.shutdown(0)
}

func (cp *ControlPlane) shutdown(grace time.Duration) error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.stopped {
		return nil
	}
	cp.stopped = true
	running := cp.kcm != nil || cp.apiServer != nil || cp.etcd != nil
	var errs []error
	// The node first, while the API server still answers its components.
	if cp.node != nil {
		errs = append(errs, cp.node.stop(grace))
		cp.node = nil
	}
	if cp.kcm != nil {
		errs = append(errs, cp.kcm.stop(grace))
		cp.kcm = nil
	}
	if cp.apiServer != nil {
		errs = append(errs, cp.apiServer.stop(grace))
		cp.apiServer = nil
	}
	if cp.etcd != nil {
		errs = append(errs, cp.etcd.proc.stop(grace))
		cp.etcd = nil
	}
	if cp.ownsDir && cp.Dir != "" {
		if err := os.RemoveAll(cp.Dir); err != nil {
			errs = append(errs, fmt.Errorf("remove state directory: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stop control plane: %w", err)
	}
	if running {
		cp.logf("control plane stopped")
	}
	return nil
}

// StopAPIServer stops only kube-apiserver, for tests of how clients and
// controllers cope with an unavailable API. etcd and the controller manager
// keep running.
func (cp *ControlPlane) StopAPIServer() error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.stopped {
		return errors.New("stop kube-apiserver: control plane is stopped")
	}
	if err := cp.apiServer.stop(stopGrace); err != nil {
		return fmt.Errorf("stop kube-apiserver: %w", err)
	}
	cp.logf("kube-apiserver stopped")
	return nil
}

// StartAPIServer starts kube-apiserver again after StopAPIServer, with the
// same flags on the same port, and waits until it is ready. Existing
// configs and clients keep working.
func (cp *ControlPlane) StartAPIServer(ctx context.Context) error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.stopped {
		return errors.New("start kube-apiserver: control plane is stopped")
	}
	begin := time.Now()
	if err := cp.apiServer.restart(ctx, cp.Config); err != nil {
		return fmt.Errorf("start kube-apiserver: %w", err)
	}
	cp.logf("kube-apiserver ready again after %s", time.Since(begin).Round(time.Millisecond))
	return nil
}

// RepoRoot returns the root of this module's repository, found by walking
// up from the working directory to its go.mod.
func RepoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for dir := wd; ; {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && moduleName(data) == modulePath {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("find repository root: no go.mod of module %s in %s or its parents", modulePath, wd)
		}
		dir = parent
	}
}

// moduleName returns the module path declared in a go.mod file.
func moduleName(gomod []byte) string {
	for _, line := range strings.Split(string(gomod), "\n") {
		fields := strings.Fields(line)
		if len(fields) >= 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`)
		}
	}
	return ""
}

// BinDir returns the directory the binaries are looked up in:
// $CRDDEMO_BIN_DIR or, when that is unset, <repo>/bin.
func BinDir() (string, error) {
	return binDir(RepoRoot)
}

func binDir(repoRoot func() (string, error)) (string, error) {
	if dir := os.Getenv(BinDirEnv); dir != "" {
		return dir, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", fmt.Errorf("locate the binaries (or set %s): %w", BinDirEnv, err)
	}
	return filepath.Join(root, "bin"), nil
}

// findBinaries locates the executables in $CRDDEMO_BIN_DIR or <repo>/bin.
func findBinaries(repoRoot func() (string, error), controllerManager bool) (binaries, error) {
	dir, err := binDir(repoRoot)
	if err != nil {
		return binaries{}, err
	}
	b := binaries{
		etcd:      filepath.Join(dir, "etcd"),
		apiServer: filepath.Join(dir, "kube-apiserver"),
		kubectl:   filepath.Join(dir, "kubectl"),
	}
	required := []string{b.etcd, b.apiServer, b.kubectl}
	if controllerManager {
		b.controllerManager = filepath.Join(dir, "kube-controller-manager")
		required = append(required, b.controllerManager)
	}
	for _, path := range required {
		if err := checkExecutable(path, "make controlplane"); err != nil {
			return binaries{}, err
		}
	}
	return b, nil
}

// checkExecutable fails unless path is an executable file, saying which make
// target builds it.
func checkExecutable(path, makeTarget string) error {
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("binary %s is missing (run `%s`, or set %s): %w", path, makeTarget, BinDirEnv, err)
	}
	if info.IsDir() || info.Mode()&0o111 == 0 {
		return fmt.Errorf("binary %s is not executable (run `%s`, or set %s)", path, makeTarget, BinDirEnv)
	}
	return nil
}
