package policy

import (
	"net/netip"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/labels"
)

// TestRFC6052Layouts reads the IPv4 address back from the examples of RFC
// 6052 section 2.4, which embed 192.0.2.33 under 2001:db8:122:344::/96 cut
// at each prefix length (the u-octet, bits 64 to 71, is skipped).
func TestRFC6052Layouts(t *testing.T) {
	want := netip.MustParseAddr("192.0.2.33")
	for _, tc := range []struct {
		bits int
		addr string
	}{
		{32, "2001:db8:c000:221::"},
		{40, "2001:db8:1c0:2:21::"},
		{48, "2001:db8:122:c000:2:2100::"},
		{56, "2001:db8:122:3c0:0:221::"},
		{64, "2001:db8:122:344:c0:2:2100:0"},
		{96, "2001:db8:122:344::192.0.2.33"},
	} {
		if got := rfc6052(netip.MustParseAddr(tc.addr).As16(), tc.bits); got != want {
			t.Errorf("the /%d layout of %s carries %s, want %s", tc.bits, tc.addr, got, want)
		}
	}
}

// TestCarriedIPv4: every IPv6 form that carries an IPv4 address is judged
// by that address. Each address below was built by hand for its layout
// around Node address 10.250.90.7 (0afa:5a07), Service IP 10.96.0.1,
// the metadata address 169.254.169.254, a --denied-cidrs address
// 203.0.113.9 or a loopback address; each control carries the public
// 198.51.100.20 (c633:6414) the same way and is allowed.
func TestCarriedIPv4(t *testing.T) {
	cluster := []NamedPrefix{
		{netip.MustParsePrefix("10.96.0.0/12"), "ServiceCIDR kubernetes"},
		{netip.MustParsePrefix("10.250.90.7/32"), "InternalIP of Node n1"},
	}
	denied := []NamedPrefix{{netip.MustParsePrefix("203.0.113.0/24"), "flag --denied-cidrs"}}
	s := NewSnapshot(cluster, denied, nil)
	for _, tc := range []struct {
		form, addr, reason string // reason "": allowed
	}{
		{"NAT64 64:ff9b::/96", "64:ff9b::afa:5a07", ReasonClusterNetwork},
		{"NAT64 64:ff9b::/96", "64:ff9b::a9fe:a9fe", ReasonMetadataAddress},
		{"NAT64 64:ff9b::/96", "64:ff9b::cb00:7109", ReasonDeniedRange},
		{"NAT64 64:ff9b::/96", "64:ff9b::7f00:1", ReasonDeniedRange},
		{"NAT64 64:ff9b::/96", "64:ff9b::", ReasonDeniedRange},
		{"NAT64 64:ff9b::/96", "64:ff9b::c633:6414", ""},
		// RFC 8215 local-use: the operator's prefix of length 48, 56,
		// 64 or 96, then the RFC 6052 layout of that length.
		{"local-use /48 layout", "64:ff9b:1:afa:5a:700::", ReasonClusterNetwork},
		{"local-use /56 layout", "64:ff9b:1:120a:fa:5a07::", ReasonClusterNetwork},
		{"local-use /64 layout", "64:ff9b:1:1234:a:fa5a:700:0", ReasonClusterNetwork},
		{"local-use /96 layout", "64:ff9b:1:1234:5678:9abc:afa:5a07", ReasonClusterNetwork},
		{"local-use /96 layout", "64:ff9b:1::a60:1", ReasonClusterNetwork},
		{"local-use /64 layout", "64:ff9b:1:1234:7f:0:100:0", ReasonDeniedRange}, // 127.0.0.1
		{"local-use /56 layout", "64:ff9b:1:a9:fe:a9fe::", ReasonMetadataAddress},
		{"local-use /48 layout", "64:ff9b:1:c633:64:1400::", ""},
		// Zero bits of the operator's prefix read as 0.0.0.0 in the
		// other layouts; that alone refuses nothing.
		{"local-use /96 layout", "64:ff9b:1::c633:6414", ""},
		{"local-use /96 layout", "64:ff9b:1:1234:5678:9abc:c633:6414", ""},
		{"6to4", "2002:afa:5a07::1", ReasonClusterNetwork},
		{"6to4", "2002:a60:1:1::1", ReasonClusterNetwork},
		{"6to4", "2002:7f00:1::1", ReasonDeniedRange},
		{"6to4", "2002:c633:6414::1", ""},
		// Teredo: server in bits 32-63, client bit-inverted in the last
		// 32 (198.51.100.21 is 39cc:9bea inverted, 10.250.90.7 is
		// f505:a5f8).
		{"Teredo server", "2001:0:afa:5a07:8000:63bf:39cc:9bea", ReasonClusterNetwork},
		{"Teredo client", "2001:0:c633:6414:8000:63bf:f505:a5f8", ReasonClusterNetwork},
		{"Teredo client", "2001:0:c633:6414:8000:63bf:5601:5601", ReasonMetadataAddress},
		{"Teredo client", "2001:0:c633:6414:8000:63bf:34ff:8ef6", ReasonDeniedRange},
		{"Teredo client", "2001:0:c633:6414::", ReasonDeniedRange}, // 255.255.255.255
		{"Teredo", "2001:0:c633:6414:8000:63bf:39cc:9bea", ""},
		{"IPv4-mapped", "::ffff:afa:5a07", ReasonClusterNetwork},
		{"IPv4-compatible", "::afa:5a07", ReasonClusterNetwork},
		{"IPv4-compatible", "::c633:6414", ""},
		{"IPv4-translated", "::ffff:0:afa:5a07", ReasonClusterNetwork},
		{"IPv4-translated", "::ffff:0:c633:6414", ""},
		{"ISATAP", "2001:db8:1:2:0:5efe:afa:5a07", ReasonClusterNetwork},
		{"ISATAP", "2001:db8:1:2:200:5efe:afa:5a07", ReasonClusterNetwork},
		{"ISATAP", "2001:db8:1:2:200:5efe:c633:6414", ""},
		{"not a form", "2001:db8:1:2:0:0:afa:5a07", ""},
	} {
		d := s.Evaluate(labels.Set{}, "ns", netip.MustParseAddr(tc.addr))
		if d.Allowed != (tc.reason == "") || (tc.reason != "" && d.Reason != tc.reason) {
			t.Errorf("%s %s: %+v, want reason %q (\"\": allowed)", tc.form, tc.addr, d, tc.reason)
		}
	}
}

// TestCarriedIPv4AndPolicy: once AddressPolicies exist, the IPv4 address a
// form carries must be allowed too, or a namespace allowed 2001::/32 or
// 2002::/16 (both inside the common "all of 2000::/3") would reach any
// IPv4 address through a relay. Outside the allowed ranges the reason is
// NotAllowedByPolicy, whatever the IPv4 address is.
func TestCarriedIPv4AndPolicy(t *testing.T) {
	cluster := []NamedPrefix{{netip.MustParsePrefix("10.250.90.7/32"), "InternalIP of Node n1"}}
	v6Only := []Rule{{Name: "v6", Selector: labels.Everything(), Prefixes: []netip.Prefix{
		netip.MustParsePrefix("2000::/3"), netip.MustParsePrefix("198.51.100.0/24")}}}
	everything := []Rule{{Name: "all", Selector: labels.Everything(), Prefixes: []netip.Prefix{
		netip.MustParsePrefix("::/0"), netip.MustParsePrefix("0.0.0.0/0")}}}
	for _, tc := range []struct {
		rules        []Rule
		addr, reason string
	}{
		{v6Only, "2002:c633:6414::1", ""},                                          // 6to4 of 198.51.100.20
		{v6Only, "2002:cb00:7109::1", ReasonNotAllowedByPolicy},                    // 6to4 of 203.0.113.9
		{v6Only, "2002:afa:5a07::1", ReasonNotAllowedByPolicy},                     // 6to4 of the Node
		{v6Only, "2001:0:c633:6414:8000:63bf:39cc:9bea", ""},                       // Teredo, both allowed
		{v6Only, "2001:0:c633:6414:8000:63bf:f505:a5f8", ReasonNotAllowedByPolicy}, // client is the Node
		{v6Only, "64:ff9b::c633:6414", ReasonNotAllowedByPolicy},                   // outside 2000::/3
		{everything, "2002:afa:5a07::1", ReasonClusterNetwork},
		{everything, "2001:0:c633:6414:8000:63bf:f505:a5f8", ReasonClusterNetwork},
		{everything, "64:ff9b:1:1234:5678:9abc:c633:6414", ""},
	} {
		d := NewSnapshot(cluster, nil, tc.rules).Evaluate(labels.Set{}, "ns", netip.MustParseAddr(tc.addr))
		if d.Allowed != (tc.reason == "") || (tc.reason != "" && d.Reason != tc.reason) {
			t.Errorf("%s under %s: %+v, want reason %q (\"\": allowed)", tc.addr, tc.rules[0].Name, d, tc.reason)
		}
	}
}

// TestCarriedDetail: the admin's detail says which form carried which IPv4
// address and what refused it; the tenant's message says neither.
func TestCarriedDetail(t *testing.T) {
	s := NewSnapshot([]NamedPrefix{{netip.MustParsePrefix("10.250.90.7/32"), "InternalIP of Node n1"}}, nil, nil)
	d := s.Evaluate(labels.Set{}, "ns", netip.MustParseAddr("2001:0:c633:6414:8000:63bf:f505:a5f8"))
	for _, want := range []string{"Teredo client", "10.250.90.7", "Node n1"} {
		if !strings.Contains(d.Detail, want) {
			t.Errorf("detail %q does not say %q", d.Detail, want)
		}
	}
	if d.Message != msgClusterNetworkCarried {
		t.Errorf("message %q, want %q", d.Message, msgClusterNetworkCarried)
	}
}
