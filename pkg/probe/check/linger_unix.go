//go:build unix

package check

import "syscall"

// setLinger turns SO_LINGER on with the given timeout in seconds.
func setLinger(fd uintptr, seconds int32) error {
	return syscall.SetsockoptLinger(int(fd), syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1, Linger: seconds})
}
