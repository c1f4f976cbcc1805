package servers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crddemo/crddemo/test/testhost"
)

const (
	// stopGrace is how long a server may take to exit after its stop
	// signal before its process group is killed.
	stopGrace = 15 * time.Second
	// reapWait bounds the wait for a process to be reaped after SIGKILL.
	reapWait = 10 * time.Second
	// readyTimeout bounds every wait for a server to answer. Starting
	// takes a second or two; the margin is for a machine whose two cores
	// are busy with other test binaries.
	readyTimeout = 60 * time.Second
	// pollInterval is how often a readiness condition is asked again.
	pollInterval = 10 * time.Millisecond
	// tailLines is how much of a server's log an error quotes.
	tailLines = 20
)

// process is one server process running inside a Host's namespace, with
// its output in a log file.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed once the process has been reaped
	waitErr error         // what cmd.Wait returned; read after done
}

// command is a program to start with startProcess.
type command struct {
	// name identifies the process in errors.
	name string
	// host is the Host whose network namespace the process runs in; nil
	// means the test binary's own (for clients on a unix socket).
	host *testhost.Host
	// cred is the user to run as; nil means the test binary's.
	cred *syscall.Credential
	// stdin is the process's standard input; nil means /dev/null.
	stdin *os.File
	// logPath is the file stdout and stderr are appended to.
	logPath string
	bin     string
	args    []string
}

// startProcess starts c. The child leads a new process group, so that stop
// reaches the children a server forks (PostgreSQL's backends), and gets
// SIGKILL when the thread that started it ends.
func startProcess(c command) (*process, error) {
	name := c.name
	logFile, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: opening its log: %w", name, err)
	}
	// The child has its own copy of the descriptor.
	defer logFile.Close()

	cmd := exec.Command(c.bin, c.args...)
	if c.stdin != nil {
		cmd.Stdin = c.stdin
	}
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: c.cred}
	p := &process{name: name, cmd: cmd, logPath: c.logPath, done: make(chan struct{})}

	// A child is created in the network namespace of the thread that
	// forks it. So a goroutine locks its thread, moves it into the Host's
	// namespace for the fork alone, and keeps the thread until the child
	// is reaped: the kernel sends the parent-death signal when that
	// thread ends, and the runtime ends a thread whose goroutine exits
	// locked to it.
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		back, err := forkInNamespace(c.host, cmd)
		started <- err
		if err == nil {
			p.waitErr = cmd.Wait()
			close(p.done)
		}
		if back {
			runtime.UnlockOSThread()
		}
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("%s: starting %s: %w", name, c.bin, err)
	}
	return p, nil
}

// forkInNamespace starts cmd from the calling (locked) thread while that
// thread is in h's network namespace (or where it is, for a nil h). It
// reports whether the thread is back in its own namespace, which is when
// it may serve other goroutines again; a child started while the thread
// could not return is killed.
func forkInNamespace(h *testhost.Host, cmd *exec.Cmd) (back bool, err error) {
	if h == nil {
		return true, cmd.Start()
	}
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return true, err
	}
	defer orig.Close()
	target, err := os.Open(testhost.NamespacePath(h.Name))
	if err != nil {
		return true, err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return true, fmt.Errorf("entering %s: %w", h.Name, err)
	}
	startErr := cmd.Start()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		if startErr == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		return false, errors.Join(startErr, fmt.Errorf("leaving %s: %w", h.Name, err))
	}
	return true, startErr
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends sig to the process alone (not its group); a process that has
// ended already is not an error.
func (p *process) signal(sig syscall.Signal) error {
	if p.exited() {
		return nil
	}
	err := syscall.Kill(p.cmd.Process.Pid, sig)
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("%s: sending %v: %w", p.name, sig, err)
	}
	return nil
}

// stop sends sig to the process, waits up to stopGrace for it to exit, then
// kills its whole process group (children it left behind included) and
// waits until it is reaped. It is safe to call again and on a process that
// has exited.
func (p *process) stop(sig syscall.Signal) error {
	if err := p.signal(sig); err != nil {
		return err
	}
	var errs []error
	select {
	case <-p.done:
	case <-time.After(stopGrace):
		errs = append(errs, fmt.Errorf("%s did not exit within %s of %v and was killed", p.name, stopGrace, sig))
	}
	// The group outlives its leader when a child did not exit with it.
	if err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		errs = append(errs, fmt.Errorf("%s: killing its process group: %w", p.name, err))
	}
	select {
	case <-p.done:
	case <-time.After(reapWait):
		errs = append(errs, fmt.Errorf("%s (pid %d) was not reaped %s after SIGKILL", p.name, p.cmd.Process.Pid, reapWait))
	}
	return errors.Join(errs...)
}

// waitFor polls cond until it reports true, and fails when it returns an
// error, when the process exits or after readyTimeout; the error quotes
// cond's last explanation and the end of the log.
func (p *process) waitFor(ctx context.Context, what string, cond func(ctx context.Context) (bool, string, error)) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var last string
	for {
		ok, why, err := cond(ctx)
		if err != nil {
			return fmt.Errorf("%s: waiting for %s: %w%s", p.name, what, err, p.tail())
		}
		if ok {
			return nil
		}
		last = why
		select {
		case <-p.done:
			return fmt.Errorf("%s exited (%v) while waiting for %s (%s)%s", p.name, p.waitErr, what, last, p.tail())
		case <-ctx.Done():
			return fmt.Errorf("%s: waiting for %s: %w (%s)%s", p.name, what, ctx.Err(), last, p.tail())
		case <-time.After(pollInterval):
		}
	}
}

// tail quotes the last lines of the log, for an error.
func (p *process) tail() string {
	out, err := os.ReadFile(p.logPath)
	if err != nil {
		return "\n(no log: " + err.Error() + ")"
	}
	lines := bytes.Split(bytes.TrimRight(out, "\n"), []byte("\n"))
	if len(lines) > tailLines {
		lines = lines[len(lines)-tailLines:]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n--- last %d lines of %s ---\n", len(lines), p.logPath)
	for _, l := range lines {
		b.WriteString("    ")
		b.Write(l)
		b.WriteByte('\n')
	}
	b.WriteString("--- end ---")
	return b.String()
}
