package check

import (
	"encoding/binary"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// fakeDNS answers each query by the first label of its name: "ok" with an
// A and an AAAA record, "cname" with a CNAME and then an A record,
// "servfail", "nxdomain" and "refused" with those rcodes, "empty" with
// NOERROR and no record, "silent" not at all, "stray" with a datagram of
// another ID before its answer and "query" with the query itself (not
// a response).
// It counts queries without recursion desired in noRD.
func fakeDNS(t testing.TB, noRD *atomic.Int32) string {
	t.Helper()
	return serveUDP(t, func(q []byte) [][]byte {
		var p dnsmessage.Parser
		h, err := p.Start(q)
		if err != nil {
			return nil
		}
		if !h.RecursionDesired {
			noRD.Add(1)
		}
		question, err := p.Question()
		if err != nil {
			return nil
		}
		resp := dnsmessage.Message{
			Header:    dnsmessage.Header{ID: h.ID, Response: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true},
			Questions: []dnsmessage.Question{question},
		}
		rr := dnsmessage.ResourceHeader{Name: question.Name, Class: dnsmessage.ClassINET, TTL: 60}
		a := &dnsmessage.AResource{A: [4]byte{127, 0, 0, 1}}
		aaaa := &dnsmessage.AAAAResource{AAAA: [16]byte{15: 1}}
		var extra [][]byte
		switch label, _, _ := strings.Cut(question.Name.String(), "."); label {
		case "ok":
			rr.Type = dnsmessage.TypeA
			resp.Answers = append(resp.Answers, dnsmessage.Resource{Header: rr, Body: a})
			rr.Type = dnsmessage.TypeAAAA
			resp.Answers = append(resp.Answers, dnsmessage.Resource{Header: rr, Body: aaaa})
		case "cname":
			target := dnsmessage.MustNewName("ok.probe.test.")
			rr.Type = dnsmessage.TypeCNAME
			resp.Answers = append(resp.Answers, dnsmessage.Resource{Header: rr, Body: &dnsmessage.CNAMEResource{CNAME: target}})
			rr.Name, rr.Type = target, dnsmessage.TypeA
			resp.Answers = append(resp.Answers, dnsmessage.Resource{Header: rr, Body: a})
		case "servfail":
			resp.RCode = dnsmessage.RCodeServerFailure
		case "nxdomain":
			resp.RCode = dnsmessage.RCodeNameError
		case "refused":
			resp.RCode = dnsmessage.RCodeRefused
		case "notimp":
			resp.RCode = dnsmessage.RCodeNotImplemented
		case "empty":
		case "silent":
			return nil
		case "query":
			return [][]byte{q}
		case "stray":
			stray := append([]byte(nil), q...)
			binary.BigEndian.PutUint16(stray, h.ID+1)
			stray[2] |= 0x80
			extra = append(extra, stray)
			rr.Type = dnsmessage.TypeA
			resp.Answers = append(resp.Answers, dnsmessage.Resource{Header: rr, Body: a})
		}
		b, err := resp.Pack()
		if err != nil {
			t.Error(err)
			return nil
		}
		return append(extra, b)
	})
}

func TestDNSCheck(t *testing.T) {
	var noRD atomic.Int32
	srv := fakeDNS(t, &noRD)
	dns := func(name, typ string) Spec { return Spec{Kind: KindDNS, DNS: &DNSSpec{Name: name, Type: typ}} }
	runProtocolCases(t, []protocolCase{
		{name: "A", target: srv, spec: dns("ok.probe.test", DNSTypeA)},
		{name: "AAAA", target: srv, spec: dns("ok.probe.test.", DNSTypeAAAA)},
		{name: "A after a CNAME", target: srv, spec: dns("cname.probe.test", DNSTypeA)},
		{name: "a stray datagram is skipped", target: srv, spec: dns("stray.probe.test", DNSTypeA)},
		{name: "no record of the type", target: srv, spec: dns("stray.probe.test", DNSTypeAAAA), want: msgDNSNoAnswer},
		{name: "NOERROR without records", target: srv, spec: dns("empty.probe.test", DNSTypeA), want: msgDNSNoAnswer},
		{name: "SERVFAIL", target: srv, spec: dns("servfail.probe.test", DNSTypeA), want: "DNS: SERVFAIL"},
		{name: "NXDOMAIN", target: srv, spec: dns("nxdomain.probe.test", DNSTypeA), want: "DNS: NXDOMAIN"},
		{name: "REFUSED", target: srv, spec: dns("refused.probe.test", DNSTypeA), want: "DNS: REFUSED"},
		{name: "NOTIMP", target: srv, spec: dns("notimp.probe.test", DNSTypeA), want: "DNS: NOTIMP"},
		{name: "the query echoed is no answer", target: srv, spec: dns("query.probe.test", DNSTypeA), want: msgDNSNoReply, timeout: silentTimeout},
		{name: "no reply", target: srv, spec: dns("silent.probe.test", DNSTypeA), want: msgDNSNoReply, timeout: silentTimeout},
		{name: "port unreachable", target: closedUDPPort(t), spec: dns("ok.probe.test", DNSTypeA), want: msgDNSUnreachable},
	})
	if n := noRD.Load(); n != 0 {
		t.Errorf("%d queries without recursion desired", n)
	}
}

// TestDNSCheckMalformedAnswer: an answer with the probe's ID whose
// question does not parse is named as such.
func TestDNSCheckMalformedAnswer(t *testing.T) {
	srv := serveUDP(t, func(q []byte) [][]byte {
		b := append(q[:12:12], 0xc0, 0xff, 0xff)
		b[2] |= 0x80
		return [][]byte{b}
	})
	runProtocolCases(t, []protocolCase{
		{name: "malformed", target: srv, spec: Spec{Kind: KindDNS, DNS: &DNSSpec{Name: "ok.probe.test", Type: DNSTypeA}}, want: msgNotDNS},
	})
}

// TestDNSQueryIDs: every probe asks with an ID of its own, so that an
// answer to an earlier probe, or a guess, is not taken for this one's.
func TestDNSQueryIDs(t *testing.T) {
	ids := make(chan uint16, 100)
	srv := serveUDP(t, func(q []byte) [][]byte {
		ids <- binary.BigEndian.Uint16(q)
		return nil
	})
	c, err := New(Spec{Kind: KindDNS, DNS: &DNSSpec{Name: "ok.probe.test", Type: DNSTypeA}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint16]bool{}
	for range 20 {
		ctx, cancel := contextWithTimeout(silentTimeout / 10)
		_ = c.Check(ctx, mustAddrPort(t, srv))
		cancel()
		seen[<-ids] = true
	}
	// 20 draws from 65,536 IDs repeat with probability about 0.3 %;
	// fewer than 15 distinct ones mean they are not drawn at random.
	if len(seen) < 15 {
		t.Errorf("20 probes used %d distinct IDs", len(seen))
	}
}
