package framework

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"
)

const (
	// stopGrace is how long a component may take to exit after SIGTERM
	// before its process group is killed.
	stopGrace = 10 * time.Second
	// killWait bounds the wait for a process to be reaped after SIGKILL.
	killWait = 10 * time.Second
	// logTailLines is how many log lines an error about a component quotes.
	logTailLines = 30
)

// process is one running component. Its stdout and stderr go to a log file
// that is appended to, so a restarted component keeps its earlier output.
type process struct {
	name    string
	logf    func(format string, args ...any)
	cmd     *exec.Cmd
	logPath string
	// logStart is the size of the log file when this run began; output of
	// this run starts there.
	logStart int64

	done    chan struct{} // closed once the process has been reaped
	waitErr error         // result of cmd.Wait, valid after done is closed
}

// startProcess starts binPath with args in a new process group, with its
// output appended to logPath.
func startProcess(name, binPath string, args []string, logPath string, logf func(string, ...any)) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log file for %s: %w", name, err)
	}
	defer logFile.Close() // the child keeps its own descriptor

	info, err := logFile.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat log file for %s: %w", name, err)
	}
	header := fmt.Sprintf("=== %s: starting %s %s\n",
		time.Now().Format(time.RFC3339Nano), binPath, strings.Join(args, " "))
	if _, err := logFile.WriteString(header); err != nil {
		return nil, fmt.Errorf("write log file for %s: %w", name, err)
	}

	cmd := exec.Command(binPath, args...)
	cmd.Stdin = nil
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = childSysProcAttr()
	p := &process{
		name:     name,
		logf:     logf,
		cmd:      cmd,
		logPath:  logPath,
		logStart: info.Size() + int64(len(header)),
		done:     make(chan struct{}),
	}
	// The kernel sends the parent-death signal when the thread that
	// started the child ends, not the process. The Go runtime ends a
	// thread whose goroutine exits while locked to it, as the network
	// namespace helpers here and in test/testhost may, so the child is
	// started from a goroutine that keeps its thread until the child is
	// reaped; a locked caller's thread is never used, since a locked
	// thread runs only its own goroutine.
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- fmt.Errorf("start %s (%s): %w", name, binPath, err)
			return
		}
		started <- nil
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

// pid returns the process id, which is also its process group id.
func (p *process) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has already terminated.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitError describes how the process ended; call it only after done is
// closed.
func (p *process) exitError() error {
	if p.waitErr != nil {
		return fmt.Errorf("%s exited: %w", p.name, p.waitErr)
	}
	return fmt.Errorf("%s exited with status 0", p.name)
}

// stop sends SIGTERM to the process group, waits up to grace for the process
// to exit and then kills the whole group; with no grace it kills at once. It
// is safe to call more than once and on a process that has already exited.
func (p *process) stop(grace time.Duration) error {
	_, _, err := p.stopTimed(grace)
	return err
}

// stopTimed is stop that also returns how long the process took to exit
// after SIGTERM and whether it did so within grace (true, and no time, for
// a process that had exited already).
func (p *process) stopTimed(grace time.Duration) (took time.Duration, clean bool, err error) {
	if grace > 0 && !p.exited() {
		begin := time.Now()
		if err := signalGroup(p.pid(), syscall.SIGTERM); err != nil {
			return 0, false, fmt.Errorf("stop %s: %w", p.name, err)
		}
		select {
		case <-p.done:
			took = time.Since(begin)
			p.logf("%s exited %s after SIGTERM", p.name, took.Round(time.Millisecond))
		case <-time.After(grace):
			took = time.Since(begin)
			p.logf("%s still running %s after SIGTERM, killing it", p.name, grace)
		}
	}
	clean = p.exited()
	// Kill whatever is left of the group, including any children the
	// component may have spawned, even if the leader exited by itself.
	if err := signalGroup(p.pid(), syscall.SIGKILL); err != nil {
		return took, clean, fmt.Errorf("kill %s: %w", p.name, err)
	}
	select {
	case <-p.done:
		return took, clean, nil
	case <-time.After(killWait):
		return took, clean, fmt.Errorf("%s (pid %d) did not exit %s after SIGKILL", p.name, p.pid(), killWait)
	}
}

// signalGroup signals the process group led by pid; a group that no longer
// exists is not an error.
func signalGroup(pid int, sig syscall.Signal) error {
	err := syscall.Kill(-pid, sig)
	if err == nil || errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return fmt.Errorf("send %v to process group %d: %w", sig, pid, err)
}

// output returns what this run of the process has written so far.
func (p *process) output() string {
	f, err := os.Open(p.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(p.logStart, io.SeekStart); err != nil {
		return ""
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return ""
	}
	return string(data)
}

// logTail returns the last lines of this run's output, formatted for an
// error message.
func (p *process) logTail() string {
	return formatTail(p.logPath, p.output(), logTailLines)
}

// formatTail quotes the last n lines of out, naming the file they come from.
func formatTail(logPath, out string, n int) string {
	lines := bytes.Split(bytes.TrimRight([]byte(out), "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n--- last %d lines of %s ---\n", len(lines), logPath)
	for _, l := range lines {
		b.WriteString("    ")
		b.Write(l)
		b.WriteByte('\n')
	}
	b.WriteString("--- end of log ---")
	return b.String()
}

// bindClash reports whether the output of this run says a listen address
// was already taken, in which case the caller may retry on other ports.
func (p *process) bindClash() bool {
	out := p.output()
	return strings.Contains(out, "address already in use") ||
		strings.Contains(out, "bind: address in use")
}

// Process is a program a test runs besides the control plane: the
// operator's binary (see Controller) or a further controller manager. Like
// the control plane's components it leads its own process group, its output
// goes to a log file, and the kernel kills it should the process that
// started it die.
type Process struct {
	proc    *process
	started time.Time
}

// newProcess starts bin with args and its output appended to logPath; name
// identifies it in errors.
func newProcess(name, bin string, args []string, logPath string) (*Process, error) {
	// The caller reports on the process's end itself: Stop returns how
	// long it took.
	proc, err := startProcess(name, bin, args, logPath, func(string, ...any) {})
	if err != nil {
		return nil, err
	}
	return &Process{proc: proc, started: time.Now()}, nil
}

// Name identifies the process in errors.
func (p *Process) Name() string { return p.proc.name }

// PID is the process id, which is also its process group id.
func (p *Process) PID() int { return p.proc.pid() }

// Started is when the process was started.
func (p *Process) Started() time.Time { return p.started }

// Running reports whether the process has not exited yet.
func (p *Process) Running() bool { return !p.proc.exited() }

// ExitErr is what waiting for the process returned: nil while it runs or
// after it exited with status 0, an *exec.ExitError after any other end.
func (p *Process) ExitErr() error {
	if !p.proc.exited() {
		return nil
	}
	return p.proc.waitErr
}

// Signal sends sig to the process alone, not to its group.
func (p *Process) Signal(sig syscall.Signal) error {
	if err := p.proc.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("%s: send %v: %w", p.proc.name, sig, err)
	}
	return nil
}

// Wait waits up to timeout for the process to exit and returns its exit
// code, -1 if a signal ended it.
func (p *Process) Wait(timeout time.Duration) (int, error) {
	select {
	case <-p.proc.done:
	case <-time.After(timeout):
		return 0, fmt.Errorf("%s did not exit within %s", p.proc.name, timeout)
	}
	var exitErr *exec.ExitError
	if err := p.proc.waitErr; err != nil && !errors.As(err, &exitErr) {
		return 0, fmt.Errorf("%s: wait: %w", p.proc.name, err)
	}
	return p.proc.cmd.ProcessState.ExitCode(), nil
}

// Stop sends SIGTERM to the process group, waits up to grace for a clean
// exit and then kills what is left of the group. It returns how long the
// process took to exit after SIGTERM, and an error if it did not exit
// within grace. Stopping a process that has exited already costs nothing.
func (p *Process) Stop(grace time.Duration) (time.Duration, error) {
	took, clean, err := p.proc.stopTimed(grace)
	if err != nil {
		return took, err
	}
	if !clean {
		return took, fmt.Errorf("%s did not exit within %s of SIGTERM and was killed", p.proc.name, grace)
	}
	return took, nil
}

// Kill kills the process group at once and waits until the process is
// reaped.
func (p *Process) Kill() error {
	return p.proc.stop(0)
}

// Output is what this run of the process has logged so far.
func (p *Process) Output() string { return p.proc.output() }

// Tail quotes the last n lines of Output, naming the log file, for an error
// message or a failed test's log.
func (p *Process) Tail(n int) string {
	return formatTail(p.proc.logPath, p.proc.output(), n)
}
