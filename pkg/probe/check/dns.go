package check

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/net/dns/dnsmessage"
)

// DNSSpec is the question of a DNS probe.
type DNSSpec struct {
	// Name is the name asked for, absolute (with the final dot) or not;
	// either way it is asked as is, without a search list.
	Name string
	// Type is DNSTypeA or DNSTypeAAAA.
	Type string
}

// The record types a DNS probe can ask for.
const (
	DNSTypeA    = "A"
	DNSTypeAAAA = "AAAA"
)

// dnsChecker asks one question over UDP, with recursion desired, and
// passes on a NOERROR answer with at least one record of the type asked
// for (after any CNAMEs). Any other rcode fails with its name, as dig
// shows it ("DNS: SERVFAIL"); so do silence ("DNS: no reply") and an ICMP
// port unreachable ("DNS: port unreachable").
type dnsChecker struct {
	dial  DialFunc
	qtype dnsmessage.Type
	// query is the packed question with ID 0; every probe sends a copy
	// with an ID of its own.
	query []byte
}

func newDNSChecker(spec *DNSSpec, dial DialFunc) (Checker, error) {
	if spec == nil || spec.Name == "" {
		return nil, fmt.Errorf("dns.name is required")
	}
	c := &dnsChecker{dial: dial}
	switch spec.Type {
	case DNSTypeA:
		c.qtype = dnsmessage.TypeA
	case DNSTypeAAAA:
		c.qtype = dnsmessage.TypeAAAA
	default:
		return nil, fmt.Errorf("dns.type %q: want %q or %q", spec.Type, DNSTypeA, DNSTypeAAAA)
	}
	name := spec.Name
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	n, err := dnsmessage.NewName(name)
	if err != nil {
		return nil, fmt.Errorf("dns.name %q: %w", spec.Name, err)
	}
	msg := dnsmessage.Message{
		Header:    dnsmessage.Header{RecursionDesired: true},
		Questions: []dnsmessage.Question{{Name: n, Type: c.qtype, Class: dnsmessage.ClassINET}},
	}
	// Packing checks the name's labels, so a name that cannot be asked
	// fails here, once, rather than on every probe.
	if c.query, err = msg.Pack(); err != nil {
		return nil, fmt.Errorf("dns.name %q: %w", spec.Name, err)
	}
	return c, nil
}

func (c *dnsChecker) Check(ctx context.Context, addr netip.AddrPort) error {
	query := bytes.Clone(c.query)
	id := uint16(rand.Uint32())
	binary.BigEndian.PutUint16(query, id)
	// Only a response (QR set) with the probe's ID is its answer; any
	// other datagram is skipped, as a resolver does.
	reply, err := exchangeUDP(ctx, c.dial, addr, query, func(b []byte) bool {
		return len(b) >= 12 && binary.BigEndian.Uint16(b) == id && b[2]&0x80 != 0
	})
	if err != nil {
		return udpFailure(ctx, err, msgDNSUnreachable, msgDNSNoReply)
	}
	var p dnsmessage.Parser
	h, err := p.Start(reply)
	if err != nil {
		return &Error{Message: msgNotDNS, Err: err}
	}
	if h.RCode != dnsmessage.RCodeSuccess {
		return &Error{Message: "DNS: " + rcodeName(h.RCode)}
	}
	if err := p.SkipAllQuestions(); err != nil {
		return &Error{Message: msgNotDNS, Err: err}
	}
	for {
		ah, err := p.AnswerHeader()
		if err != nil {
			// The end of the answers, or a record that does not parse
			// (a truncated answer): no record of the type before it.
			return &Error{Message: msgDNSNoAnswer, Err: err}
		}
		if ah.Type == c.qtype && ah.Class == dnsmessage.ClassINET {
			return nil
		}
		if err := p.SkipAnswer(); err != nil {
			return &Error{Message: msgDNSNoAnswer, Err: err}
		}
	}
}

// rcodeName is an rcode's name as DNS tools show it (RFC 6895's
// registry): NXDOMAIN rather than dnsmessage's RCodeNameError.
func rcodeName(rc dnsmessage.RCode) string {
	switch rc {
	case dnsmessage.RCodeFormatError:
		return "FORMERR"
	case dnsmessage.RCodeServerFailure:
		return "SERVFAIL"
	case dnsmessage.RCodeNameError:
		return "NXDOMAIN"
	case dnsmessage.RCodeNotImplemented:
		return "NOTIMP"
	case dnsmessage.RCodeRefused:
		return "REFUSED"
	default:
		return "rcode " + strconv.Itoa(int(rc))
	}
}
