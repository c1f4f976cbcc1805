package framework

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
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
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", name, binPath, err)
	}

	p := &process{
		name:     name,
		logf:     logf,
		cmd:      cmd,
		logPath:  logPath,
		logStart: info.Size() + int64(len(header)),
		done:     make(chan struct{}),
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
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
	if grace > 0 && !p.exited() {
		begin := time.Now()
		if err := signalGroup(p.pid(), syscall.SIGTERM); err != nil {
			return fmt.Errorf("stop %s: %w", p.name, err)
		}
		select {
		case <-p.done:
			p.logf("%s exited %s after SIGTERM", p.name, time.Since(begin).Round(time.Millisecond))
		case <-time.After(grace):
			p.logf("%s still running %s after SIGTERM, killing it", p.name, grace)
		}
	}
	// Kill whatever is left of the group, including any children the
	// component may have spawned, even if the leader exited by itself.
	if err := signalGroup(p.pid(), syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill %s: %w", p.name, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(killWait):
		return fmt.Errorf("%s (pid %d) did not exit %s after SIGKILL", p.name, p.pid(), killWait)
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
