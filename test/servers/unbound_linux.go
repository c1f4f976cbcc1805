package servers

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/crddemo/crddemo/test/testhost"
)

// unboundTimeout bounds the wait for a closed socket to leave the kernel.
// The only holder past close is a child between fork and exec, which
// lasts milliseconds; the bound is generous for a loaded machine.
const unboundTimeout = 10 * time.Second

// awaitUDPUnbound returns once no socket in h's namespace is bound to
// addr's port on addr or on the wildcard address, so that a datagram to
// addr meets a closed port and the namespace answers with ICMP port
// unreachable.
//
// Closing our descriptor is not enough for that: a child process that
// another test forks (redis-server, postgres) gets a copy of every
// descriptor of this process and holds it until its exec closes it. A
// socket closed in that window stays bound, and what arrives meanwhile is
// queued to it and dropped unanswered. So the wait reads the namespace's
// socket table (/proc/thread-self/net/udp, from a thread in it) rather
// than binding the port again, which would open the same window.
func awaitUDPUnbound(h *testhost.Host, addr netip.AddrPort) error {
	deadline := time.Now().Add(unboundTimeout)
	for {
		var bound bool
		err := h.Do(func() error {
			table, err := readUDPTable()
			if err != nil {
				return err
			}
			bound, err = udpBound(table, addr)
			return err
		})
		if err != nil {
			return fmt.Errorf("reading the UDP sockets of %s: %w", h.Name, err)
		}
		if !bound {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s is still bound in %s after %s", addr, h.Name, unboundTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// readUDPTable reads the IPv4 UDP sockets of the calling thread's network
// namespace (/proc/net is the process's, which a thread moved into a Host
// is not in).
func readUDPTable() ([]byte, error) {
	return os.ReadFile("/proc/thread-self/net/udp")
}

// udpBound reports whether table, the text of /proc/net/udp, holds a
// socket bound to addr's port on addr or on 0.0.0.0. Its local_address
// column is the IPv4 address as the kernel stores it (the bytes in network
// order, printed as one native-endian integer in hex) and the port in hex.
func udpBound(table []byte, addr netip.AddrPort) (bool, error) {
	sc := bufio.NewScanner(bytes.NewReader(table))
	sc.Scan() // the header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		ipHex, portHex, ok := strings.Cut(fields[1], ":")
		if !ok {
			return false, fmt.Errorf("unexpected local address %q", fields[1])
		}
		port, err := strconv.ParseUint(portHex, 16, 16)
		if err != nil {
			return false, fmt.Errorf("unexpected local address %q: %w", fields[1], err)
		}
		stored, err := strconv.ParseUint(ipHex, 16, 32)
		if err != nil {
			return false, fmt.Errorf("unexpected local address %q: %w", fields[1], err)
		}
		var ip [4]byte
		binary.NativeEndian.PutUint32(ip[:], uint32(stored))
		local := netip.AddrFrom4(ip)
		if uint16(port) == addr.Port() && (local == addr.Addr() || local.IsUnspecified()) {
			return true, nil
		}
	}
	return false, sc.Err()
}
