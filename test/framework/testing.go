package framework

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// current is the control plane started by RunMain in this test binary. It is
// the package's only mutable global: tests reach the shared control plane
// through Get.
var current atomic.Pointer[ControlPlane]

// Get returns the control plane started by RunMain in this test binary, or
// nil if RunMain is not running.
func Get() *ControlPlane {
	return current.Load()
}

// RunMain is the body of a TestMain: it starts a control plane, runs the
// tests and stops it again, and returns the exit code for os.Exit. The
// control plane is available to the tests through Get.
//
// If the control plane cannot start, RunMain prints why and returns 1
// without running any test. On SIGINT or SIGTERM it kills the control plane
// (no grace period, so that the tests still running see as little of it as
// possible), removes its directory and exits with status 128+signal; a
// second signal exits at once. The control plane is also stopped when m.Run
// panics in the main goroutine. If the binary dies without running deferred
// code (a panic in a test, a test timeout, os.Exit), the kernel kills the
// components and the next Start removes the directory left behind.
//
// When Logf is unset and the tests run with -v, progress goes to stderr.
func RunMain(m *testing.M, opts Options) int {
	if !flag.Parsed() {
		flag.Parse()
	}
	if opts.Logf == nil && testing.Verbose() {
		opts.Logf = func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "framework: "+format+"\n", args...)
		}
	}

	// ctx is cancelled by the first signal; interruptCode is then the exit
	// status to use.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var interruptCode atomic.Int32
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(signals)
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		var sig os.Signal
		select {
		case <-finished:
			return
		case sig = <-signals:
		}
		// A second signal gets the default action: immediate exit, with
		// the components killed by the kernel.
		signal.Stop(signals)
		code := int32(1)
		if s, ok := sig.(syscall.Signal); ok {
			code = 128 + int32(s)
		}
		interruptCode.Store(code)
		fmt.Fprintf(os.Stderr, "framework: received %v, killing the control plane\n", sig)
		// Cancelling first makes a Start still in progress fail and clean
		// up; one that has just returned is noticed by the main goroutine
		// after it publishes the control plane.
		cancel()
		if cp := current.Load(); cp != nil {
			if err := cp.kill(); err != nil {
				fmt.Fprintf(os.Stderr, "framework: %v\n", err)
			}
			os.Exit(int(code))
		}
	}()

	begin := time.Now()
	cp, err := Start(ctx, opts)
	if err != nil {
		if code := interruptCode.Load(); code != 0 {
			fmt.Fprintln(os.Stderr, "framework: interrupted while starting the control plane, no test was run")
			return int(code)
		}
		fmt.Fprintf(os.Stderr, "framework: cannot start the control plane, no test was run:\n%v\n", err)
		return 1
	}
	current.Store(cp)
	defer func() {
		current.Store(nil)
		if err := cp.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "framework: %v\n", err)
		}
	}()
	if code := interruptCode.Load(); code != 0 {
		if err := cp.kill(); err != nil {
			fmt.Fprintf(os.Stderr, "framework: %v\n", err)
		}
		return int(code)
	}
	if opts.Logf != nil {
		opts.Logf("control plane started in %s", time.Since(begin).Round(time.Millisecond))
	}

	code := m.Run()
	if err := cp.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "framework: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	if c := interruptCode.Load(); c != 0 {
		// The signal handler is exiting with the same status.
		code = int(c)
	}
	return code
}

// testNameAnnotation records on a test namespace which test created it.
const testNameAnnotation = "crddemo.k8s.io/test-name"

// CreateNamespace creates a namespace with a unique name ("test-" and a
// random suffix) for the calling test and deletes it when the test ends.
// The namespace controller, if running, then removes its contents.
func CreateNamespace(t testing.TB, cs kubernetes.Interface) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "test-",
			Annotations:  map[string]string{testNameAnnotation: t.Name()},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create test namespace: %v", err)
	}
	t.Cleanup(func() {
		// The test's context is already cancelled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := cs.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete test namespace %s: %v", ns.Name, err)
		}
	})
	return ns.Name
}

// eventuallyInterval is how often Eventually asks its condition again.
const eventuallyInterval = 50 * time.Millisecond

// Eventually polls cond every 50 ms until it holds, and fails the test
// after timeout with what it was waiting for and cond's last explanation.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	err := Poll(context.Background(), timeout, eventuallyInterval, what, func() (bool, string, error) {
		ok, why := cond()
		return ok, why, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Poll calls cond every interval until it holds, it fails, ctx ends or
// timeout passes. It is Eventually for code that reports errors instead of
// failing a test, such as the benchmark: its error names what it was
// waiting for and quotes cond's last explanation, or wraps cond's error,
// which ends the wait at once.
func Poll(ctx context.Context, timeout, interval time.Duration, what string, cond func() (ok bool, why string, err error)) error {
	var last string
	var condErr error
	err := wait.PollUntilContextTimeout(ctx, interval, timeout, true, func(context.Context) (bool, error) {
		ok, why, err := cond()
		last, condErr = why, err
		return ok, err
	})
	switch {
	case err == nil:
		return nil
	case condErr != nil:
		return fmt.Errorf("waiting for %s: %w", what, condErr)
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		return fmt.Errorf("timed out after %s waiting for %s: %s", timeout, what, last)
	default:
		return fmt.Errorf("waiting for %s (%s): %w", what, last, err)
	}
}
