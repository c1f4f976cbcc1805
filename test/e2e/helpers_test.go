package e2e

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
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
	cp     *framework.ControlPlane
	root   string // repository root
	binary string // bin/mydemo-controller
	dir    string // scratch directory for kubeconfigs
	kube   kubernetes.Interface
	client versioned.Interface
	apiext apiextensionsclient.Interface

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
	root, err := framework.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	binary, err := framework.ControllerBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	return &suite{
		cp:     cp,
		root:   root,
		binary: binary,
		dir:    dir,
		kube:   kubernetes.NewForConfigOrDie(cp.Config),
		client: versioned.NewForConfigOrDie(cp.Config),
		apiext: apiextensionsclient.NewForConfigOrDie(cp.Config),
	}
}

// kubectlTimeout bounds one kubectl command.
const kubectlTimeout = time.Minute

// kubectl runs the control plane's kubectl as the admin and returns its
// standard output and standard error (for warnings).
func (s *suite) kubectl(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), kubectlTimeout)
	defer cancel()
	return s.cp.KubectlOutput(ctx, args...)
}

// mustKubectl is kubectl that fails the test on error.
func (s *suite) mustKubectl(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	stdout, stderr, err := s.kubectl(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return stdout, stderr
}

// controllerProcess is one run of bin/mydemo-controller.
type controllerProcess struct {
	*framework.Controller
}

// logTailLines is how much of a controller's log a failed test prints: the
// tail is what explains a failure.
const logTailLines = 300

// startController starts the binary as the deploy/ ServiceAccount with the
// Lease in crddemo-system; args come last and override those. The process
// is killed (SIGKILL) when the test ends, and its log is printed if the
// test failed.
func (s *suite) startController(t *testing.T, name string, args ...string) *controllerProcess {
	t.Helper()
	full := append([]string{
		"--kubeconfig=" + s.saKubeconfig,
		"--leader-elect-resource-namespace=" + systemNamespace,
	}, args...)
	c, err := framework.StartController(name, s.binary, full, filepath.Join(t.TempDir(), name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: started %s %s (pid %d)", name, s.binary, strings.Join(full, " "), c.PID())
	t.Cleanup(func() {
		if err := c.Kill(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("=== %s:%s", name, c.Tail(logTailLines))
		}
	})
	return &controllerProcess{c}
}

// waitExit waits for the process to exit and returns its exit code (-1
// after a signal), failing the test on timeout.
func (p *controllerProcess) waitExit(t *testing.T, timeout time.Duration) int {
	t.Helper()
	code, err := p.Wait(timeout)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// signal sends sig to the process, failing the test if it cannot.
func (p *controllerProcess) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

var (
	becameLeaderRE = regexp.MustCompile(`"Became the leader" identity="([^"]+)"`)
	standingByRE   = regexp.MustCompile(`"Another replica leads; standing by" leader="([^"]+)"`)
)

// leaderIdentity returns the identity the process logged on becoming the
// leader, or "" if it has not led yet.
func (p *controllerProcess) leaderIdentity() string {
	m := becameLeaderRE.FindStringSubmatch(p.Output())
	if m == nil {
		return ""
	}
	return m[1]
}

// standingBehind returns the leader this process last reported standing by
// for, or "".
func (p *controllerProcess) standingBehind() string {
	all := standingByRE.FindAllStringSubmatch(p.Output(), -1)
	if len(all) == 0 {
		return ""
	}
	return all[len(all)-1][1]
}

// requestTimeout bounds one request to a controller's metrics address.
const requestTimeout = 3 * time.Second

// get fetches path from the process's metrics address.
func (p *controllerProcess) get(path string) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	code, body, err := p.Fetch(ctx, path)
	return code, string(body), err
}

// waitHealthy waits until path on the health address answers 200 OK; it
// fails at once if the process exits.
func (p *controllerProcess) waitHealthy(t *testing.T, path string, timeout time.Duration) {
	t.Helper()
	if err := p.WaitHealthy(context.Background(), path, timeout); err != nil {
		t.Fatal(err)
	}
}

// scrape returns the process's /metrics page.
func (p *controllerProcess) scrape(t *testing.T) string {
	t.Helper()
	code, body, err := p.get("/metrics")
	if err != nil || code != http.StatusOK {
		t.Fatalf("%s: GET /metrics: %d %v", p.Name(), code, err)
	}
	return body
}

// metricValue adds up the samples of name whose labels include labels in a
// Prometheus text page, and reports whether there was any.
func metricValue(page, name string, labels map[string]string) (float64, bool) {
	m, err := framework.ParseMetrics(strings.NewReader(page))
	if err != nil {
		return 0, false
	}
	return m.Lookup(name, labels)
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
	framework.Eventually(t, timeout, "Mydemo "+ns+"/"+name+" published", func() (bool, string) {
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
	framework.Eventually(t, 30*time.Second, "CRD "+crdName+" Established", func() (bool, string) {
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
