package framework

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Do runs fn on an OS thread that has joined the node's network namespace:
// sockets fn creates (a client of a ClusterIP, say) belong to the node.
// fn must not start goroutines meant to run in the namespace.
func (n *Node) Do(fn func() error) error {
	return inNetNS(n.NetNS, fn)
}

// Dial opens a connection from inside the node's network namespace.
func (n *Node) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	var c net.Conn
	err := n.Do(func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	return c, err
}

// inNetNS runs fn on a locked thread in the network namespace at path. The
// thread goes back to the runtime only once it is in its own namespace
// again; otherwise it ends with the goroutine.
func inNetNS(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			runtime.UnlockOSThread()
			return
		}
		defer orig.Close()
		target, err := os.Open(path)
		if err != nil {
			errc <- err
			runtime.UnlockOSThread()
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter %s: %w", path, err)
			runtime.UnlockOSThread()
			return
		}
		fnErr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(fnErr, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- fnErr
	}()
	return <-errc
}

// tcpForwarder listens inside a network namespace and forwards every
// connection to an address of the initial namespace. It lets the node's
// components and Pods reach the API server, which listens on loopback
// only, without any address or route in the initial namespace.
type tcpForwarder struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newTCPForwarder(netns, listen, target string) (*tcpForwarder, error) {
	f := &tcpForwarder{target: target, conns: map[net.Conn]struct{}{}}
	err := inNetNS(netns, func() error {
		var err error
		f.ln, err = net.Listen("tcp4", listen)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("node: listen for the API server in the node: %w", err)
	}
	f.wg.Add(1)
	go f.serve()
	return f, nil
}

func (f *tcpForwarder) serve() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		f.wg.Add(1)
		go f.forward(c)
	}
}

func (f *tcpForwarder) track(cs ...net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conns == nil {
		return false
	}
	for _, c := range cs {
		f.conns[c] = struct{}{}
	}
	return true
}

func (f *tcpForwarder) forward(in net.Conn) {
	defer f.wg.Done()
	out, err := net.Dial("tcp", f.target)
	if err != nil {
		in.Close()
		return
	}
	if !f.track(in, out) {
		in.Close()
		out.Close()
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(out, in)
	go pipe(in, out)
	<-done
	<-done
	in.Close()
	out.Close()
	f.mu.Lock()
	delete(f.conns, in)
	delete(f.conns, out)
	f.mu.Unlock()
}

func (f *tcpForwarder) close() {
	f.ln.Close()
	f.mu.Lock()
	for c := range f.conns {
		c.Close()
	}
	f.conns = nil
	f.mu.Unlock()
	f.wg.Wait()
}

// signalPid sends SIGKILL to one process.
func signalPid(pid int) error {
	return syscall.Kill(pid, syscall.SIGKILL)
}
