package policy

import (
	"net/netip"
	"strings"
	"testing"
)

// TestIntrinsic: loopback, unspecified, link-local and every address that
// is not unicast are refused, each for its own reason and with a message
// that names neither the address nor anything of the cluster; every other
// address is left to the cluster networks and the policies.
func TestIntrinsic(t *testing.T) {
	for _, tc := range []struct {
		addr, reason string // reason "": allowed
	}{
		{"127.0.0.1", ReasonLoopback},
		{"127.255.255.254", ReasonLoopback},
		{"::1", ReasonLoopback},
		{"::ffff:127.0.0.1", ReasonLoopback}, // as a DNS answer might carry it
		{"0.0.0.0", ReasonUnspecified},
		{"::", ReasonUnspecified},
		{"169.254.1.1", ReasonLinkLocal},
		{"169.254.169.254", ReasonLinkLocal},
		{"fe80::1", ReasonLinkLocal},
		{"224.0.0.5", ReasonNotUnicast},
		{"239.1.2.3", ReasonNotUnicast},
		{"ff02::1", ReasonNotUnicast},
		{"ff0e::1", ReasonNotUnicast},
		{"255.255.255.255", ReasonNotUnicast},
		{"198.51.100.7", ""},
		{"10.0.0.1", ""},
		{"2001:db8::1", ""},
		{"fd00:ec2::254", ""},    // a metadata address: the Snapshot's to refuse
		{"64:ff9b::7f00:1", ""},  // carries 127.0.0.1: the Snapshot's to refuse
		{"0.1.2.3", ""},          // "this network", yet unicast to netip and CEL alike
		{"240.0.0.1", ""},        // reserved, yet unicast to netip and CEL alike
		{"fec0::1", ""},          // deprecated site-local, unicast to both
		{"100.100.100.200", ""},  // a metadata address: the Snapshot's to refuse
		{"192.0.0.170", ""},      // NAT64 discovery: an ordinary unicast address
		{"2002:7f00:1::1", ""},   // 6to4 of 127.0.0.1: the Snapshot's to refuse
		{"::ffff:0:7f00:1", ""},  // IPv4-translated 127.0.0.1: the Snapshot's
		{"2001:0:7f00:1::1", ""}, // Teredo: the Snapshot's
	} {
		d := Intrinsic(netip.MustParseAddr(tc.addr))
		if d.Allowed != (tc.reason == "") || (tc.reason != "" && d.Reason != tc.reason) {
			t.Errorf("Intrinsic(%s) = %+v, want reason %q (\"\": allowed)", tc.addr, d, tc.reason)
		}
		if !d.Allowed && (d.Message == "" || strings.Contains(d.Message, tc.addr) || d.Detail == "") {
			t.Errorf("Intrinsic(%s): message %q, detail %q; want a fixed message without the address and a detail", tc.addr, d.Message, d.Detail)
		}
	}
	if d := Intrinsic(netip.Addr{}); d.Allowed {
		t.Errorf("Intrinsic of the zero Addr allowed it")
	}
}

// TestParseLiteral: a spec address is a plain IPv4 or IPv6 address; a
// zone, a prefix length, a name and an IPv4-mapped form are errors, and a
// non-canonical form is read as the address it names.
func TestParseLiteral(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string // err "": parsed as want
	}{
		{"198.51.100.7", "198.51.100.7", ""},
		{"2001:db8::1", "2001:db8::1", ""},
		{"2001:DB8:0::1", "2001:db8::1", ""},
		{"::ffff:198.51.100.7", "", "IPv4-mapped"},
		{"::ffff:127.0.0.1", "", "IPv4-mapped"},
		{"fe80::1%eth0", "", "not an IP address"},
		{"198.51.100.0/24", "", "not an IP address"},
		{"db.example.com", "", "not an IP address"},
		{"", "", "not an IP address"},
		{"01.2.3.4", "", "not an IP address"},
	} {
		got, err := ParseLiteral(tc.in)
		switch {
		case tc.err == "" && (err != nil || got.String() != tc.want):
			t.Errorf("ParseLiteral(%q) = %s, %v; want %s", tc.in, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseLiteral(%q) = %s, %v; want an error saying %q", tc.in, got, err, tc.err)
		}
	}
}
