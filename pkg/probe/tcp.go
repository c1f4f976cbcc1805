package probe

import (
	"context"
	"errors"
	"net"
	"os"
)

// timeoutMessage is reported for every kind of timeout so that the status
// reads the same whether the deadline hit in the kernel, in the net
// package, or in an injected dialer that only sees its context expire.
const timeoutMessage = "i/o timeout"

// dialTCP opens a TCP connection to address and closes it straight away:
// an accepted connection is all the probe wants to know, and holding it
// open would only cost the target a socket.
func (p *Prober) dialTCP(ctx context.Context, address string) error {
	conn, err := p.dial(ctx, "tcp", address)
	if err != nil {
		return err
	}
	if conn != nil {
		// A failing Close says nothing about whether the peer accepted.
		_ = conn.Close()
	}
	return nil
}

// shortMessage reduces a dial error to the part a user can act on. The
// full "dial tcp 10.0.0.1:80: connect: connection refused" repeats the
// address, which the object already shows, and the operation, which is
// always the same.
func shortMessage(err error) string {
	if err == nil {
		return ""
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return timeoutMessage
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return timeoutMessage
	}
	// The innermost system call error carries the errno text, for example
	// "connection refused" or "no route to host".
	var sysErr *os.SyscallError
	if errors.As(err, &sysErr) && sysErr.Err != nil {
		return sysErr.Err.Error()
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Err != nil {
		return opErr.Err.Error()
	}
	return err.Error()
}
