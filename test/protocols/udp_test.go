//go:build linux

package protocols

import (
	"net/netip"
	"testing"

	"github.com/crddemo/crddemo/pkg/probe/check"
	"github.com/crddemo/crddemo/test/servers"
)

// Addresses of the Host the UDP and DNS tests' servers listen on.
const (
	udpEchoAddr = 40 + iota
	dnsAddr
)

// The ports of the servers: echo's and DNS's own.
const (
	echoPort = 7
	dnsPort  = 53
)

// udpProbe sends send and wants expect in the reply.
func udpProbe(send, expect string) check.Spec {
	return check.Spec{Kind: check.KindUDP, UDP: &check.UDPSpec{Send: []byte(send), Expect: []byte(expect)}}
}

// TestUDPEcho: a reply passes, when it holds what is expected; a reply
// without it fails, naming both; a closed port fails with the ICMP port
// unreachable the namespace answers.
func TestUDPEcho(t *testing.T) {
	t.Parallel()
	echo := servers.StartUDPEcho(t, host, netip.AddrPortFrom(host.Addr(udpEchoAddr), echoPort))
	wantPass(t, udpProbe("ping", ""), echo.Addr)
	wantPass(t, udpProbe("ping", "ping"), echo.Addr)
	wantFail(t, udpProbe("ping", "pong"), echo.Addr, `expected "pong", got "ping"`)

	echo.Stop()
	wantFail(t, udpProbe("ping", ""), echo.Addr, "UDP: port unreachable")
}

// dnsProbe asks for name's records of type typ.
func dnsProbe(name, typ string) check.Spec {
	return check.Spec{Kind: check.KindDNS, DNS: &check.DNSSpec{Name: name, Type: typ}}
}

// TestDNS: the project's test DNS server, answering NOERROR with and
// without records, NXDOMAIN and SERVFAIL, then gone.
func TestDNS(t *testing.T) {
	t.Parallel()
	addr := netip.AddrPortFrom(host.Addr(dnsAddr), dnsPort)
	dns := servers.StartDNS(t, host, addr)
	dns.Set("up.crddemo.test", host.Addr(1))
	dns.Fail("broken.crddemo.test")

	wantPass(t, dnsProbe("up.crddemo.test", check.DNSTypeA), addr)
	wantPass(t, dnsProbe("up.crddemo.test.", check.DNSTypeA), addr)
	wantFail(t, dnsProbe("up.crddemo.test", check.DNSTypeAAAA), addr, "DNS: no answer")
	wantFail(t, dnsProbe("broken.crddemo.test", check.DNSTypeA), addr, "DNS: SERVFAIL")
	wantFail(t, dnsProbe("missing.crddemo.test", check.DNSTypeA), addr, "DNS: NXDOMAIN")

	dns.Stop()
	wantFail(t, dnsProbe("up.crddemo.test", check.DNSTypeA), addr, "DNS: port unreachable")
}
