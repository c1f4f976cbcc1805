package framework

import (
	"fmt"
	"net"
)

// loopback is the only address the control plane listens on.
const loopback = "127.0.0.1"

// FreePorts returns n distinct TCP ports on the loopback interface that were
// free a moment ago, for a component to listen on or, since nothing listens
// there, to be refused on. All listeners are held open until every port has
// been chosen, so the kernel cannot hand out the same port twice. Another
// process may still grab one before the component binds it; the framework's
// own components retry on other ports then.
func FreePorts(n int) ([]int, error) {
	listeners := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(loopback, "0"))
		if err != nil {
			return nil, fmt.Errorf("pick a free loopback port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
