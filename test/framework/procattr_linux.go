package framework

import "syscall"

// childSysProcAttr puts a child in its own process group, so that a terminal
// interrupt aimed at the test binary does not reach it directly and Stop can
// signal the group as a whole, and asks the kernel to kill it when the
// process that started it dies, so that a crash leaks no servers.
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
