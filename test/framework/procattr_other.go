//go:build unix && !linux

package framework

import "syscall"

// childSysProcAttr puts a child in its own process group. Outside Linux there
// is no parent-death signal, so a crashed test binary may leave children
// running.
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
