package servers

import (
	"fmt"
	"net"
	"net/netip"
)

// SourceAddr is the address connections from the test process to dst come
// from: the address a server in a Host sees for the probes (which dial from
// the initial namespace, as the controller does), for the accounts and
// pg_hba.conf lines that let the probes in or keep them out. It asks the
// kernel's routing by connecting a UDP socket, which sends nothing.
func SourceAddr(dst netip.Addr) (netip.Addr, error) {
	conn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 9)))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("servers: the route to %s: %w", dst, err)
	}
	defer conn.Close()
	return conn.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}
