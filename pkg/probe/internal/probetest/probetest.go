// Package probetest holds the loopback servers and the wait that the tests
// of the probe engine (pkg/probe) and of the checks (pkg/probe/check)
// share. It is internal: only those tests import it.
package probetest

import (
	"net"
	"testing"
	"time"
)

// WaitLimit bounds every wait in the probe tests; it is generous so that a
// slow CI machine under -race does not fail, while a healthy run takes
// milliseconds.
const WaitLimit = 10 * time.Second

// Eventually polls cond until it holds, failing the test after WaitLimit.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(WaitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// Listen starts a loopback listener that accepts and closes connections,
// and returns its address.
func Listen(t testing.TB) string {
	t.Helper()
	return ServeTCP(t, func(net.Conn) {})
}

// ServeTCP starts a loopback listener that hands every connection to
// handle, one at a time, and closes it after; it returns the address. The
// listener is closed, and its loop waited for, when the test ends.
func ServeTCP(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			handle(c)
			_ = c.Close()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
	})
	return ln.Addr().String()
}

// RefusedAddress returns a loopback address on which nothing listens, so a
// connection to it is refused.
func RefusedAddress(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	return addr
}
