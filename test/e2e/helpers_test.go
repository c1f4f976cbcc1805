package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apiextensions-apiserver/pkg/apihelpers"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/generated/clientset/versioned"
	"github.com/crddemo/crddemo/test/framework"
)

// Names that deploy/ defines.
const (
	systemNamespace = "crddemo-system"
	serviceAccount  = "mydemo-controller"
	leaseName       = "mydemo-controller"
	crdName         = "mydemos.crddemo.k8s.io"
	// labelMydemo is the label the controller puts on a Mydemo's Service
	// and EndpointSlice, naming the Mydemo.
	labelMydemo = "crddemo.k8s.io/mydemo"
)

// Leader-election timings for tests that watch a failover: short, and
// valid (lease > renew deadline > retry period).
const (
	testLeaseDuration = 4 * time.Second
	testRenewDeadline = 3 * time.Second
	testRetryPeriod   = 500 * time.Millisecond
)

// fastLeaderElection are the flags for testLeaseDuration and friends.
func fastLeaderElection() []string {
	return []string{
		"--leader-elect-lease-duration=" + testLeaseDuration.String(),
		"--leader-elect-renew-deadline=" + testRenewDeadline.String(),
		"--leader-elect-retry-period=" + testRetryPeriod.String(),
	}
}

const (
	// converge bounds how long a running leader may take to publish a
	// Mydemo.
	converge = 30 * time.Second
	// startupFailure bounds how long the binary may take to exit when it
	// cannot start.
	startupFailure = 10 * time.Second
)

// suite is what every subtest of TestE2E shares.
type suite struct {
	cp      *framework.ControlPlane
	root    string // repository root
	binary  string // bin/mydemo-controller
	dir     string // scratch directory for kubeconfigs
	kube    kubernetes.Interface
	client  versioned.Interface
	apiext  apiextensionsclient.Interface
	kubectl *kubectlRunner

	// saConfig and saKubeconfig authenticate as the ServiceAccount of
	// deploy/; set once deploy/ is applied.
	saConfig     *rest.Config
	saKubeconfig string
}

func newSuite(t *testing.T) *suite {
	t.Helper()
	cp := framework.Get()
	if cp == nil {
		t.Fatal("no control plane: TestMain must run framework.RunMain")
	}
	root := repoRoot(t)
	dir := t.TempDir()
	return &suite{
		cp:      cp,
		root:    root,
		binary:  controllerBinary(t, root),
		dir:     dir,
		kube:    kubernetes.NewForConfigOrDie(cp.Config),
		client:  versioned.NewForConfigOrDie(cp.Config),
		apiext:  apiextensionsclient.NewForConfigOrDie(cp.Config),
		kubectl: &kubectlRunner{path: cp.KubectlPath(), kubeconfig: cp.KubeconfigPath, cacheDir: filepath.Join(dir, "kubectl-cache")},
	}
}

// repoRoot walks up from the working directory to this module's go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(data, []byte("module github.com/crddemo/crddemo\n")) {
			return dir
		}
		if filepath.Dir(dir) == dir {
			t.Fatalf("no go.mod of github.com/crddemo/crddemo in %s or its parents", wd)
		}
	}
}

// controllerBinary is bin/mydemo-controller in $CRDDEMO_BIN_DIR or
// <repo>/bin, as built by `make build`.
func controllerBinary(t *testing.T, root string) string {
	t.Helper()
	dir := os.Getenv(framework.BinDirEnv)
	if dir == "" {
		dir = filepath.Join(root, "bin")
	}
	path := filepath.Join(dir, "mydemo-controller")
	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("the controller binary %s is missing: run `make build` first (or set %s): %v", path, framework.BinDirEnv, err)
	}
	if info.IsDir() || info.Mode()&0o111 == 0 {
		t.Fatalf("the controller binary %s is not executable: run `make build` first", path)
	}
	return path
}

// kubectlRunner runs the control plane's kubectl as the admin and, unlike
// ControlPlane.Kubectl, also returns standard error (for warnings).
type kubectlRunner struct {
	path, kubeconfig, cacheDir string
}

func (k *kubectlRunner) run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	full := append([]string{"--kubeconfig=" + k.kubeconfig, "--cache-dir=" + k.cacheDir}, args...)
	cmd := exec.CommandContext(ctx, k.path, full...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	if err != nil {
		err = fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), errOut.String(), err
}

// mustRun is run that fails the test on error.
func (k *kubectlRunner) mustRun(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	stdout, stderr, err := k.run(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return stdout, stderr
}

// freePort returns a TCP port on 127.0.0.1 that nothing listened on a
// moment ago (and that therefore refuses connections).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

// controllerProcess is one run of bin/mydemo-controller.
type controllerProcess struct {
	name       string
	cmd        *exec.Cmd
	stderrPath string // klog writes here
	stdoutPath string
	metrics    string // host:port of /metrics
	health     string // host:port of /healthz and /readyz
	started    time.Time

	done    chan struct{} // closed once the process has been reaped
	waitErr error         // valid once done is closed
}

// startController starts the binary as the deploy/ ServiceAccount with
// metrics and health on free loopback ports and the Lease in
// crddemo-system; args come last and override those. The process is killed
// (SIGKILL) when the test ends, and its log is printed if the test failed.
func (s *suite) startController(t *testing.T, name string, args ...string) *controllerProcess {
	t.Helper()
	dir := t.TempDir()
	p := &controllerProcess{
		name:       name,
		stderrPath: filepath.Join(dir, name+".stderr.log"),
		stdoutPath: filepath.Join(dir, name+".stdout.log"),
		metrics:    net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t))),
		health:     net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t))),
		done:       make(chan struct{}),
	}
	full := []string{
		"--kubeconfig=" + s.saKubeconfig,
		"--metrics-bind-address=" + p.metrics,
		"--health-probe-bind-address=" + p.health,
		"--leader-elect-resource-namespace=" + systemNamespace,
	}
	full = append(full, args...)

	stderr, err := os.Create(p.stderrPath)
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close() // the child has its own descriptor
	stdout, err := os.Create(p.stdoutPath)
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()

	p.cmd = exec.Command(s.binary, full...)
	p.cmd.Stdout, p.cmd.Stderr = stdout, stderr
	// Own process group, and killed by the kernel should this test binary
	// die first.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", s.binary, err)
	}
	p.started = time.Now()
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	t.Logf("%s: started %s %s (pid %d)", name, s.binary, strings.Join(full, " "), p.cmd.Process.Pid)

	t.Cleanup(func() {
		p.kill(t)
		if t.Failed() {
			p.dumpLogs(t)
		}
	})
	return p
}

// kill sends SIGKILL to the process group, if still running, and waits
// until the process is reaped.
func (p *controllerProcess) kill(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Errorf("%s (pid %d) still running 10s after SIGKILL", p.name, p.cmd.Process.Pid)
	}
}

func (p *controllerProcess) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("%s: send %v: %v", p.name, sig, err)
	}
}

// running reports whether the process has not exited yet.
func (p *controllerProcess) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// waitExit waits for the process to exit and returns its exit code (-1
// after a signal), failing the test on timeout.
func (p *controllerProcess) waitExit(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("%s did not exit within %s", p.name, timeout)
	}
	var exitErr *exec.ExitError
	if p.waitErr != nil && !errors.As(p.waitErr, &exitErr) {
		t.Fatalf("%s: wait: %v", p.name, p.waitErr)
	}
	return p.cmd.ProcessState.ExitCode()
}

// stderr is what the process has logged so far.
func (p *controllerProcess) stderr(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(p.stderrPath)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func (p *controllerProcess) dumpLogs(t *testing.T) {
	t.Helper()
	for _, path := range []string{p.stdoutPath, p.stderrPath} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Logf("%s: %v", p.name, err)
			continue
		}
		text := strings.TrimRight(string(data), "\n")
		if text == "" {
			continue
		}
		// The tail is what explains a failure; keep the output readable.
		lines := strings.Split(text, "\n")
		if len(lines) > 300 {
			lines = append([]string{fmt.Sprintf("... %d earlier lines left out", len(lines)-300)}, lines[len(lines)-300:]...)
		}
		t.Logf("=== %s: %s\n%s", p.name, filepath.Base(path), strings.Join(lines, "\n"))
	}
}

var (
	becameLeaderRE = regexp.MustCompile(`"Became the leader" identity="([^"]+)"`)
	standingByRE   = regexp.MustCompile(`"Another replica leads; standing by" leader="([^"]+)"`)
)

// leaderIdentity returns the identity the process logged on becoming the
// leader, or "" if it has not led yet.
func (p *controllerProcess) leaderIdentity(t *testing.T) string {
	t.Helper()
	m := becameLeaderRE.FindStringSubmatch(p.stderr(t))
	if m == nil {
		return ""
	}
	return m[1]
}

// standingBehind returns the leader this process last reported standing by
// for, or "".
func (p *controllerProcess) standingBehind(t *testing.T) string {
	t.Helper()
	all := standingByRE.FindAllStringSubmatch(p.stderr(t), -1)
	if len(all) == 0 {
		return ""
	}
	return all[len(all)-1][1]
}

var httpClient = &http.Client{Timeout: 3 * time.Second}

// get fetches http://<addr><path>.
func get(addr, path string) (int, string, error) {
	resp, err := httpClient.Get("http://" + addr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// waitHTTP200 waits until path on addr answers 200 OK; it fails at once if
// the process exits.
func (p *controllerProcess) waitHTTP200(t *testing.T, addr, path string, timeout time.Duration) {
	t.Helper()
	var last string
	eventually(t, timeout, p.name+" "+path+" = 200", func() (bool, string) {
		if !p.running() {
			t.Fatalf("%s exited (%v) while waiting for %s", p.name, p.waitErr, path)
		}
		code, body, err := get(addr, path)
		if err != nil {
			last = err.Error()
			return false, last
		}
		last = fmt.Sprintf("%d %s", code, strings.TrimSpace(body))
		return code == http.StatusOK, last
	})
}

// scrape returns the process's /metrics page.
func (p *controllerProcess) scrape(t *testing.T) string {
	t.Helper()
	code, body, err := get(p.metrics, "/metrics")
	if err != nil || code != http.StatusOK {
		t.Fatalf("%s: GET /metrics: %d %v", p.name, code, err)
	}
	return body
}

// metricValue finds the sample of series (name with its labels, exactly as
// exposed) in a Prometheus text page.
func metricValue(page, series string) (float64, bool) {
	sc := bufio.NewScanner(strings.NewReader(page))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
			return v, err == nil
		}
	}
	return 0, false
}

// eventually polls cond until it holds, failing the test after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	framework.Eventually(t, timeout, what, cond)
}

// leaseHolder is the holderIdentity of the controller's Lease ("" when the
// Lease is missing or released).
func (s *suite) leaseHolder(t *testing.T) string {
	t.Helper()
	lease, err := s.kube.CoordinationV1().Leases(systemNamespace).Get(context.Background(), leaseName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return ""
	}
	if err != nil {
		t.Fatalf("get Lease: %v", err)
	}
	if lease.Spec.HolderIdentity == nil {
		return ""
	}
	return *lease.Spec.HolderIdentity
}

// freshLease deletes the controller's Lease now and again when the test
// ends (after its controllers are killed, as cleanups run last-in first-out),
// so a Lease held by a killed process never delays the next test.
func (s *suite) freshLease(t *testing.T) {
	t.Helper()
	del := func() {
		err := s.kube.CoordinationV1().Leases(systemNamespace).Delete(context.Background(), leaseName, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete Lease: %v", err)
		}
	}
	del()
	t.Cleanup(del)
}

// unprobed is a Mydemo spec with probing off: its address is never dialled.
func unprobed(ip string, port int32) crddemov1.MydemoSpec {
	return crddemov1.MydemoSpec{IP: ip, Port: port, Probe: &crddemov1.Probe{Type: crddemov1.ProbeTypeNone}}
}

func (s *suite) createMydemo(t *testing.T, ns, name string, spec crddemov1.MydemoSpec) {
	t.Helper()
	if spec.Probe == nil || spec.Probe.Type != crddemov1.ProbeTypeNone {
		t.Fatal("e2e Mydemos must have probing off")
	}
	_, err := s.client.CrddemoV1().Mydemos(ns).Create(context.Background(), &crddemov1.Mydemo{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       spec,
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create Mydemo %s/%s: %v", ns, name, err)
	}
}

// setPort changes a Mydemo's spec.port.
func (s *suite) setPort(t *testing.T, ns, name string, port int32) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		md, err := s.client.CrddemoV1().Mydemos(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		md.Spec.Port = port
		_, err = s.client.CrddemoV1().Mydemos(ns).Update(context.Background(), md, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("set port of Mydemo %s/%s: %v", ns, name, err)
	}
}

// waitPublished waits until the Mydemo's current generation is published:
// Published=True for it, and a Service and an EndpointSlice with its port.
func (s *suite) waitPublished(t *testing.T, ns, name string, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, "Mydemo "+ns+"/"+name+" published", func() (bool, string) {
		ctx := context.Background()
		md, err := s.client.CrddemoV1().Mydemos(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(md.Status.Conditions, crddemov1.ConditionPublished)
		switch {
		case c == nil:
			return false, "no Published condition"
		case c.Status != metav1.ConditionTrue || c.ObservedGeneration != md.Generation:
			return false, fmt.Sprintf("Published=%s (%s) for generation %d of %d", c.Status, c.Message, c.ObservedGeneration, md.Generation)
		}
		svc, err := s.kube.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, "Service: " + err.Error()
		}
		if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != md.Spec.Port {
			return false, fmt.Sprintf("Service ports %v, want %d", svc.Spec.Ports, md.Spec.Port)
		}
		slices, err := s.childSlices(ns, name)
		if err != nil {
			return false, err.Error()
		}
		if len(slices) != 1 {
			return false, fmt.Sprintf("%d EndpointSlices", len(slices))
		}
		sl := slices[0]
		if len(sl.Ports) != 1 || sl.Ports[0].Port == nil || *sl.Ports[0].Port != md.Spec.Port {
			return false, fmt.Sprintf("EndpointSlice ports %v, want %d", sl.Ports, md.Spec.Port)
		}
		if len(sl.Endpoints) != 1 || len(sl.Endpoints[0].Addresses) != 1 || sl.Endpoints[0].Addresses[0] != md.Spec.IP {
			return false, fmt.Sprintf("EndpointSlice endpoints %v, want %s", sl.Endpoints, md.Spec.IP)
		}
		return true, ""
	})
}

func (s *suite) childServices(ns, mydemo string) ([]corev1.Service, error) {
	list, err := s.kube.CoreV1().Services(ns).List(context.Background(), metav1.ListOptions{LabelSelector: labelMydemo + "=" + mydemo})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

func (s *suite) childSlices(ns, mydemo string) ([]discoveryv1.EndpointSlice, error) {
	list, err := s.kube.DiscoveryV1().EndpointSlices(ns).List(context.Background(), metav1.ListOptions{LabelSelector: labelMydemo + "=" + mydemo})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

// expectOneChildEach fails unless exactly one Service and one EndpointSlice
// publish the Mydemo.
func (s *suite) expectOneChildEach(t *testing.T, ns, mydemo string) {
	t.Helper()
	svcs, err := s.childServices(ns, mydemo)
	if err != nil {
		t.Fatal(err)
	}
	slices, err := s.childSlices(ns, mydemo)
	if err != nil {
		t.Fatal(err)
	}
	if len(svcs) != 1 || len(slices) != 1 {
		t.Fatalf("Mydemo %s/%s has %d Services and %d EndpointSlices, want exactly one each", ns, mydemo, len(svcs), len(slices))
	}
}

// waitCRDEstablished waits until the CRD is served and then past the two
// seconds during which the API server holds the first creates of its
// resources.
func (s *suite) waitCRDEstablished(t *testing.T) {
	t.Helper()
	eventually(t, 30*time.Second, "CRD "+crdName+" Established", func() (bool, string) {
		crd, err := s.apiext.ApiextensionsV1().CustomResourceDefinitions().Get(context.Background(), crdName, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		if apihelpers.IsCRDConditionTrue(crd, apiextensionsv1.Established) {
			return true, ""
		}
		return false, "not Established"
	})
	// Counted from now rather than from the condition's timestamp, which
	// is truncated to the second.
	time.Sleep(2 * time.Second)
}
