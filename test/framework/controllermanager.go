package framework

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
)

const (
	// controllerManagerControllers are the only controllers run: the garbage
	// collector (ownerReferences) and the namespace controller (namespace
	// deletion). Everything else a real cluster does is left to the tests.
	controllerManagerControllers = "garbage-collector-controller,namespace-controller"
	// controllerManagerUser is the identity of the controller manager. It is
	// also a member of system:masters: with shared credentials the garbage
	// collector must be able to delete any kind of object.
	controllerManagerUser = "system:kube-controller-manager"
	gcReadyTimeout        = 60 * time.Second
	// canaryNamespace holds the objects used to check that the garbage
	// collector works; it exists from the start.
	canaryNamespace = "kube-system"
)

// startControllerManager starts kube-controller-manager with a kubeconfig of
// its own and waits until the garbage collector has removed a test object.
func startControllerManager(ctx context.Context, cp *ControlPlane, binPath string) (*process, error) {
	certPEM, keyPEM, err := cp.pki.clientCert(controllerManagerUser, []string{"system:masters"})
	if err != nil {
		return nil, err
	}
	cfg := cp.hostConfig()
	cfg.CertData, cfg.KeyData = certPEM, keyPEM
	kubeconfig := filepath.Join(cp.Dir, "kube-controller-manager.kubeconfig")
	if err := cp.WriteKubeconfig(kubeconfig, cfg); err != nil {
		return nil, err
	}
	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--controllers=" + controllerManagerControllers,
		"--leader-elect=false",
		"--use-service-account-credentials=false",
		// At the default 20 QPS the garbage collector's discovery and
		// deletes are throttled enough to slow tests down.
		"--kube-api-qps=500",
		"--kube-api-burst=1000",
		// No HTTPS endpoint: nothing scrapes it, and serving would need
		// certificates and a port.
		"--secure-port=0",
		"--profiling=false",
	}
	cp.logf("starting kube-controller-manager")
	proc, err := startProcess("kube-controller-manager", binPath, args, filepath.Join(cp.Dir, "kube-controller-manager.log"), cp.logf)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := waitGarbageCollector(ctx, proc, cp.Config); err != nil {
		tail := proc.logTail()
		if stopErr := proc.stop(stopGrace); stopErr != nil {
			cp.logf("%v", stopErr)
		}
		return nil, fmt.Errorf("kube-controller-manager: garbage collector not working: %w%s", err, tail)
	}
	cp.logf("garbage collector ready after %s", time.Since(start).Round(time.Millisecond))
	return proc, nil
}

// waitGarbageCollector creates an owner and a dependent ConfigMap, deletes
// the owner and waits for the garbage collector to delete the dependent. The
// collector only acts once its informers have synced, so this proves it is
// running and has discovered the installed resources.
func waitGarbageCollector(ctx context.Context, proc *process, cfg *rest.Config) error {
	ctx, cancel := context.WithTimeout(ctx, gcReadyTimeout)
	defer cancel()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	cms := cs.CoreV1().ConfigMaps(canaryNamespace)
	owner, err := cms.Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "framework-gc-canary-owner-"},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create canary owner: %w", err)
	}
	dependent, err := cms.Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "framework-gc-canary-dependent-",
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1",
				Kind:       "ConfigMap",
				Name:       owner.Name,
				UID:        owner.UID,
			}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create canary dependent: %w", err)
	}
	err = cms.Delete(ctx, owner.Name, metav1.DeleteOptions{
		PropagationPolicy: ptr.To(metav1.DeletePropagationBackground),
	})
	if err != nil {
		return fmt.Errorf("delete canary owner: %w", err)
	}
	for {
		if proc.exited() {
			return proc.exitError()
		}
		_, err := cms.Get(ctx, dependent.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return nil
		case err != nil && ctx.Err() == nil:
			return fmt.Errorf("get canary dependent: %w", err)
		}
		select {
		case <-ctx.Done():
			// Do not leave the canary behind for the tests to trip over.
			cleanupCtx, cleanupCancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = cms.Delete(cleanupCtx, dependent.Name, metav1.DeleteOptions{})
			cleanupCancel()
			return fmt.Errorf("dependent ConfigMap %s/%s still present: %w", canaryNamespace, dependent.Name, ctx.Err())
		case <-proc.done:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// StartControllerManager starts a further kube-controller-manager, as the
// admin, that runs only controllers, with its output appended to logPath.
// The framework's own runs only the garbage collector and the namespace
// controller; a test of another built-in controller (the ClusterRole
// aggregation controller, say) starts one with this and ends it with Kill.
func (cp *ControlPlane) StartControllerManager(logPath string, controllers ...string) (*Process, error) {
	if cp.bins.controllerManager == "" {
		return nil, errors.New("start kube-controller-manager: the control plane was started without Options.ControllerManager")
	}
	return newProcess("kube-controller-manager", cp.bins.controllerManager, []string{
		"--kubeconfig=" + cp.KubeconfigPath,
		"--controllers=" + strings.Join(controllers, ","),
		"--leader-elect=false",
		"--secure-port=0",
		"--profiling=false",
	}, logPath)
}
