package policy

import (
	"net/netip"
	"testing"

	"k8s.io/apimachinery/pkg/labels"
)

func TestEvaluate(t *testing.T) {
	cluster := []NamedPrefix{
		{netip.MustParsePrefix("10.96.0.0/12"), "ServiceCIDR kubernetes"},
		{netip.MustParsePrefix("10.244.1.0/24"), "Node n1 podCIDR"},
		{netip.MustParsePrefix("172.18.0.2/32"), "Node n1 address"},
		{netip.MustParsePrefix("172.18.0.3/32"), "EndpointSlice default/kubernetes"},
		{netip.MustParsePrefix("fd12:3456::/64"), "ServiceCIDR kubernetes"},
	}
	denied := []NamedPrefix{{netip.MustParsePrefix("203.0.113.0/24"), "flag --denied-cidrs"}}
	rules := []Rule{{Name: "team-a", Selector: labels.SelectorFromSet(labels.Set{"team": "a"}), Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("2001:db8::/32")}}}
	allowAll := []Rule{{Name: "all", Selector: labels.Everything(), Prefixes: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}}}
	teamA := labels.Set{"team": "a"}
	tests := []struct {
		name   string
		rules  []Rule
		ns     labels.Set
		addr   string
		allow  bool
		reason string
	}{
		{"service cidr", nil, teamA, "10.96.0.1", false, ReasonClusterNetwork},
		{"pod cidr", nil, teamA, "10.244.1.7", false, ReasonClusterNetwork},
		{"node address", nil, teamA, "172.18.0.2", false, ReasonClusterNetwork},
		{"api server endpoint", nil, teamA, "172.18.0.3", false, ReasonClusterNetwork},
		{"metadata v4", nil, teamA, "169.254.169.254", false, ReasonMetadataAddress},
		{"metadata v6", nil, teamA, "fd00:ec2::254", false, ReasonMetadataAddress},
		{"metadata alibaba", nil, teamA, "100.100.100.200", false, ReasonMetadataAddress},
		{"v6 outside every range", nil, teamA, "2001:db8:1::1", true, ReasonAllowed},
		{"nat64 of a service ip", nil, teamA, "64:ff9b::a60:1", false, ReasonClusterNetwork},
		{"nat64 of metadata", nil, teamA, "64:ff9b::a9fe:a9fe", false, ReasonMetadataAddress},
		{"nat64 of loopback", nil, teamA, "64:ff9b::7f00:1", false, ReasonDeniedRange},
		{"local-use nat64 of a pod", nil, teamA, "64:ff9b:1::af4:107", false, ReasonClusterNetwork},
		{"nat64 of a public address", nil, teamA, "64:ff9b::c633:6401", true, ReasonAllowed},
		{"v6 in cluster v6 range", nil, teamA, "fd12:3456::9", false, ReasonClusterNetwork},
		{"metadata v4-mapped", nil, teamA, "::ffff:169.254.169.254", false, ReasonMetadataAddress},
		{"admin range", nil, teamA, "203.0.113.9", false, ReasonDeniedRange},
		{"no policy default", nil, teamA, "198.18.0.1", true, ReasonAllowed},
		{"policy allows selected ns", rules, teamA, "198.51.100.4", true, ReasonAllowedByPolicy},
		{"policy allows v6", rules, teamA, "2001:db8::1", true, ReasonAllowedByPolicy},
		{"policy range not matched", rules, teamA, "198.18.0.1", false, ReasonNotAllowedByPolicy},
		{"namespace not selected", rules, labels.Set{"team": "b"}, "198.51.100.4", false, ReasonNotAllowedByPolicy},
		{"cluster network beats policy", allowAll, teamA, "10.96.0.1", false, ReasonClusterNetwork},
		{"metadata beats policy", allowAll, teamA, "100.100.100.200", false, ReasonMetadataAddress},
		{"denied range beats policy", allowAll, teamA, "203.0.113.9", false, ReasonDeniedRange},
		// Outside the ranges the namespace is allowed, nothing finer
		// than NotAllowedByPolicy is told, so that a tenant cannot map
		// the cluster by trying addresses it may not publish anyway.
		{"node address outside the allowed ranges", rules, teamA, "172.18.0.2", false, ReasonNotAllowedByPolicy},
		{"service ip outside the allowed ranges", rules, teamA, "10.96.0.1", false, ReasonNotAllowedByPolicy},
		{"metadata outside the allowed ranges", rules, teamA, "100.100.100.200", false, ReasonNotAllowedByPolicy},
		{"denied range outside the allowed ranges", rules, teamA, "203.0.113.9", false, ReasonNotAllowedByPolicy},
		{"node address, namespace not selected", rules, labels.Set{"team": "b"}, "172.18.0.2", false, ReasonNotAllowedByPolicy},
		{"v6 cluster range, namespace not selected", rules, labels.Set{"team": "b"}, "fd12:3456::9", false, ReasonNotAllowedByPolicy},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSnapshot(cluster, denied, tc.rules)
			d := s.Evaluate(tc.ns, "ns", netip.MustParseAddr(tc.addr))
			if d.Allowed != tc.allow || d.Reason != tc.reason || (d.Message == "") != tc.allow || d.Detail == "" {
				t.Errorf("Evaluate(%s) = %+v, want allowed=%v reason=%s", tc.addr, d, tc.allow, tc.reason)
			}
		})
	}
}
