// Package dnsserver is a small authoritative DNS server for tests: it
// answers A and AAAA queries from a table the test changes at run time, so
// tests that resolve names never ask the machine's resolver.
package dnsserver

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
)

// Server answers from its table; a name not in the table is NXDOMAIN.
type Server struct {
	// Addr is the "host:port" the server listens on (UDP and TCP).
	Addr string

	mu      sync.Mutex
	records map[string][]netip.Addr
	failing map[string]bool
	// hung holds zones whose queries are never answered.
	hung map[string]bool
	// asked counts the queries per name.
	asked    map[string]int
	queries  atomic.Int64
	udp, tcp *dns.Server
}

// Start listens on a free port of host (for example 127.0.0.1) and stops
// when the test ends.
func Start(t testing.TB, host string) *Server {
	t.Helper()
	// The kernel picks a free UDP port; its TCP twin may be in use by
	// another test's socket, so a few ports are tried.
	const attempts = 10
	var lastErr error
	for range attempts {
		pc, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
		if err != nil {
			t.Fatalf("dnsserver: %v", err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return Serve(t, pc, ln)
		}
		_ = pc.Close()
		lastErr = err
	}
	t.Fatalf("dnsserver: no port free for both UDP and TCP in %d attempts: %v", attempts, lastErr)
	return nil
}

// Serve answers on pc (UDP) and ln (TCP, the same address), which the
// caller opened, for example inside a test host's network namespace, and
// stops when the test ends.
func Serve(t testing.TB, pc net.PacketConn, ln net.Listener) *Server {
	t.Helper()
	s := &Server{Addr: pc.LocalAddr().String(), records: map[string][]netip.Addr{}, failing: map[string]bool{},
		hung: map[string]bool{}, asked: map[string]int{}}
	s.udp = &dns.Server{PacketConn: pc, Handler: s}
	s.tcp = &dns.Server{Listener: ln, Handler: s}
	started := make(chan struct{}, 2)
	s.udp.NotifyStartedFunc = func() { started <- struct{}{} }
	s.tcp.NotifyStartedFunc = func() { started <- struct{}{} }
	go func() { _ = s.udp.ActivateAndServe() }()
	go func() { _ = s.tcp.ActivateAndServe() }()
	<-started
	<-started
	t.Cleanup(s.Stop)
	return s
}

// Stop stops answering and closes both sockets, so that a query meets a
// closed port (ICMP port unreachable over UDP, a reset over TCP). Stopping
// a stopped server does nothing.
func (s *Server) Stop() {
	_ = s.udp.Shutdown()
	_ = s.tcp.Shutdown()
}

// Set makes name answer with addrs (no addresses: an empty answer).
func (s *Server) Set(name string, addrs ...netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[dns.Fqdn(strings.ToLower(name))] = addrs
	delete(s.failing, dns.Fqdn(strings.ToLower(name)))
}

// Delete makes name NXDOMAIN.
func (s *Server) Delete(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.records, dns.Fqdn(strings.ToLower(name)))
	delete(s.failing, dns.Fqdn(strings.ToLower(name)))
}

// Fail makes queries for name answer SERVFAIL, as a broken server does.
func (s *Server) Fail(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing[dns.Fqdn(strings.ToLower(name))] = true
}

// Hang makes the server drop every query for zone and the names below
// it, as a server that never answers does; the client waits for its
// timeout.
func (s *Server) Hang(zone string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hung[dns.Fqdn(strings.ToLower(zone))] = true
}

// Queries is how many queries the server has received, dropped ones
// included.
func (s *Server) Queries() int64 { return s.queries.Load() }

// Asked is how many queries for name (any type) the server has received.
func (s *Server) Asked(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.asked[dns.Fqdn(strings.ToLower(name))]
}

// hungLocked reports whether name is in a hung zone.
func (s *Server) hungLocked(name string) bool {
	for zone := range s.hung {
		if dns.IsSubDomain(zone, name) {
			return true
		}
	}
	return false
}

// ServeDNS implements dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	s.queries.Add(1)
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	if len(req.Question) == 1 {
		q := req.Question[0]
		name := strings.ToLower(q.Name)
		s.mu.Lock()
		s.asked[name]++
		addrs, found := s.records[name]
		failing := s.failing[name]
		hung := s.hungLocked(name)
		s.mu.Unlock()
		switch {
		case hung:
			return
		case failing:
			resp.Rcode = dns.RcodeServerFailure
		case !found:
			resp.Rcode = dns.RcodeNameError
		default:
			for _, a := range addrs {
				hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: 1}
				switch {
				case a.Is4() && q.Qtype == dns.TypeA:
					hdr.Rrtype = dns.TypeA
					resp.Answer = append(resp.Answer, &dns.A{Hdr: hdr, A: a.AsSlice()})
				case a.Is6() && q.Qtype == dns.TypeAAAA:
					hdr.Rrtype = dns.TypeAAAA
					resp.Answer = append(resp.Answer, &dns.AAAA{Hdr: hdr, AAAA: a.AsSlice()})
				}
			}
		}
	}
	_ = w.WriteMsg(resp)
}
