package framework

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestProcessOutlivesStartingThread: a component started by a goroutine
// that then ends while locked to its thread, as the network namespace
// helpers may, keeps running. The kernel sends the parent-death signal when
// the thread that started a child ends, and the Go runtime ends the thread
// of a goroutine that exits while locked to it.
func TestProcessOutlivesStartingThread(t *testing.T) {
	// killEffect is how long a SIGKILL may take to end a process once it is
	// sent; it takes milliseconds, and this is the margin.
	const killEffect = time.Second

	dir := t.TempDir()
	type started struct {
		proc    *process
		control *exec.Cmd
		err     error
	}
	out := make(chan started, 1)
	release := make(chan struct{})
	defer close(release)
	for {
		onMain := make(chan bool, 1)
		go func() {
			runtime.LockOSThread()
			// The runtime never ends the main thread: a goroutine that
			// finds itself there keeps it until the test ends, so that the
			// next one runs elsewhere.
			if unix.Gettid() == os.Getpid() {
				onMain <- true
				<-release
				runtime.UnlockOSThread()
				return
			}
			onMain <- false
			// The control is started from this thread directly: its death
			// shows when the thread has ended and its children got the
			// signal.
			control := exec.Command("sleep", "60")
			control.SysProcAttr = childSysProcAttr()
			if err := control.Start(); err != nil {
				out <- started{err: err}
				return
			}
			p, err := startProcess("sleep", "sleep", []string{"60"}, filepath.Join(dir, "sleep.log"), t.Logf)
			out <- started{proc: p, control: control, err: err}
			// Returning without UnlockOSThread ends this thread.
		}()
		if !<-onMain {
			break
		}
	}
	s := <-out
	if s.err != nil {
		t.Fatal(s.err)
	}
	t.Cleanup(func() {
		if err := s.proc.stop(0); err != nil {
			t.Error(err)
		}
	})

	controlDone := make(chan error, 1)
	go func() { controlDone <- s.control.Wait() }()
	select {
	case <-controlDone:
	case <-time.After(killWait):
		_ = s.control.Process.Kill()
		t.Fatalf("the control child still runs %s after its thread ended: did the runtime keep the thread?", killWait)
	}
	select {
	case <-s.proc.done:
		t.Fatalf("the component died with the thread that started it: %v", s.proc.waitErr)
	case <-time.After(killEffect):
	}
}
