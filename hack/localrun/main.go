// Command localrun is what `make run` runs when no cluster is configured:
// it starts a local control plane (etcd, kube-apiserver,
// kube-controller-manager from bin/) under a state directory, installs the
// CRD, creates a demo Mydemo that is safe to probe on this machine, and runs
// bin/mydemo-controller against it in the foreground. Ctrl-C stops
// everything.
//
// The demo Mydemo points at a TCP server on a test host in a network
// namespace created here when running as root; otherwise it has probing
// off, so no address outside this machine is ever dialled.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/generated/clientset/versioned"
	"github.com/crddemo/crddemo/test/framework"
	"github.com/crddemo/crddemo/test/testhost"
)

const demoPort = 8080

func main() {
	state := flag.String("state", ".state", "Directory for the control plane's data, certificates and kubeconfig (wiped at start).")
	binDir := flag.String("bin", "bin", "Directory of mydemo-controller and the control-plane binaries.")
	flag.Parse()
	if err := run(*state, *binDir, flag.Args()); err != nil {
		fmt.Fprintf(os.Stderr, "make run: %v\n", err)
		os.Exit(1)
	}
}

func run(state, binDir string, controllerArgs []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	absState, err := filepath.Abs(state)
	if err != nil {
		return err
	}
	absBin, err := filepath.Abs(binDir)
	if err != nil {
		return err
	}
	if err := os.Setenv(framework.BinDirEnv, absBin); err != nil {
		return err
	}

	fmt.Println("Starting a local control plane in", absState, "...")
	cp, err := framework.Start(ctx, framework.Options{
		ControllerManager: true,
		Dir:               filepath.Join(absState, "controlplane"),
		Logf:              func(format string, args ...any) { fmt.Printf("  "+format+"\n", args...) },
	})
	if err != nil {
		return fmt.Errorf("starting the control plane: %w", err)
	}
	defer func() {
		fmt.Println("Stopping the local control plane")
		_ = cp.Stop()
	}()
	kubeconfig := filepath.Join(absState, "kubeconfig")
	data, err := os.ReadFile(cp.KubeconfigPath)
	if err != nil {
		return err
	}
	if err := os.WriteFile(kubeconfig, data, 0o600); err != nil {
		return err
	}

	spec, cleanup, err := demoSpec(ctx)
	if err != nil {
		return err
	}
	defer cleanup()
	client, err := versioned.NewForConfig(cp.Config)
	if err != nil {
		return err
	}
	if _, err := client.CrddemoV1().Mydemos("default").Create(ctx, &crddemov1.Mydemo{
		ObjectMeta: metav1.ObjectMeta{Name: "demo"},
		Spec:       spec,
	}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating the demo Mydemo: %w", err)
	}

	fmt.Printf(`
The local control plane is up. In another terminal:

  export KUBECONFIG=%s
  %s/kubectl get mydemos -A
  %s/kubectl describe mydemo demo

Starting the controller (Ctrl-C stops everything)...

`, kubeconfig, absBin, absBin)
	return runController(ctx, filepath.Join(absBin, "mydemo-controller"), kubeconfig, controllerArgs)
}

// demoSpec is the demo Mydemo: a TCP server on a test host in a network
// namespace when we are root, otherwise an unprobed address.
func demoSpec(ctx context.Context) (crddemov1.MydemoSpec, func(), error) {
	if os.Geteuid() != 0 {
		fmt.Println("Not root: the demo Mydemo has probe.type None (no test host can be created).")
		return crddemov1.MydemoSpec{
			IP:    "10.251.0.1",
			Port:  demoPort,
			Probe: &crddemov1.Probe{Type: crddemov1.ProbeTypeNone},
		}, func() {}, nil
	}
	host, err := testhost.New(ctx, testhost.Options{})
	if err != nil {
		return crddemov1.MydemoSpec{}, nil, fmt.Errorf("creating the demo test host: %w", err)
	}
	if err := host.Serve(demoPort); err != nil {
		_ = host.Close()
		return crddemov1.MydemoSpec{}, nil, err
	}
	fmt.Printf("Demo test host %s serves TCP %d on %s (network namespace %s).\n", host.Addr(1), demoPort, host.Subnet, host.Name)
	return crddemov1.MydemoSpec{
			IP:   host.Addr(1).String(),
			Port: demoPort,
			Probe: &crddemov1.Probe{
				Type: crddemov1.ProbeTypeTCP, PeriodSeconds: 5, TimeoutSeconds: 1,
				SuccessThreshold: 1, FailureThreshold: 2,
			},
		}, func() {
			_ = host.Close()
		}, nil
}

// runController runs the controller binary until it exits or ctx is
// cancelled, in which case it gets SIGTERM and time to drain.
func runController(ctx context.Context, bin, kubeconfig string, extra []string) error {
	args := append([]string{
		"--kubeconfig=" + kubeconfig,
		"--leader-elect=false",
		"--metrics-bind-address=127.0.0.1:8080",
		"--health-probe-bind-address=127.0.0.1:8081",
	}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	// Its own process group: a Ctrl-C in the terminal reaches only us, and
	// we send the controller one SIGTERM (a second signal would make it
	// exit without draining).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", bin, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return fmt.Errorf("the controller exited: %w", err)
	case <-ctx.Done():
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			return err
		}
	case <-time.After(40 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	return nil
}
