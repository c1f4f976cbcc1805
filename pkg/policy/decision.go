package policy

import (
	"fmt"
	"net/netip"
	"slices"

	"k8s.io/apimachinery/pkg/labels"
)

// Decision reasons, CamelCase so they can be used as condition and status
// reasons.
const (
	ReasonAllowed            = "Allowed"
	ReasonAllowedByPolicy    = "AllowedByPolicy"
	ReasonClusterNetwork     = "ClusterNetwork"
	ReasonMetadataAddress    = "MetadataAddress"
	ReasonDeniedRange        = "DeniedRange"
	ReasonNotAllowedByPolicy = "NotAllowedByPolicy"
	ReasonInvalidAddress     = "InvalidAddress"
)

// Decision is the verdict for one address in one namespace.
type Decision struct {
	Allowed bool
	Reason  string
	Message string
}

// NamedPrefix is a range with where it came from, so that a refusal can
// say why. A tenant reads the refusal in its Mydemo's status, so for the
// cluster's own networks the source is a kind ("a Node's Pod range"), not
// a name or a range: a refusal must not map the cluster's Nodes and ranges
// for someone who may not list them.
type NamedPrefix struct {
	Prefix netip.Prefix
	Source string // e.g. "ServiceCIDR kubernetes", "Node n1 podCIDR"
}

// Rule allows Prefixes to the namespaces its Selector matches.
type Rule struct {
	Name     string
	Selector labels.Selector
	Prefixes []netip.Prefix
}

// Snapshot is everything a decision depends on except the namespace's
// labels. Build it with NewSnapshot; it is immutable afterwards, so one
// Snapshot can be read by every worker without a lock.
type Snapshot struct {
	cluster prefixSet
	denied  prefixSet
	rules   []Rule
}

// NewSnapshot indexes the cluster networks, the admin-denied ranges and
// the rules.
func NewSnapshot(cluster, denied []NamedPrefix, rules []Rule) *Snapshot {
	return &Snapshot{cluster: newPrefixSet(cluster), denied: newPrefixSet(denied), rules: rules}
}

// metadataAddresses are cloud metadata services, always refused: a probe
// verdict or a published endpoint there would hand a tenant the node's
// cloud credentials' front door.
var metadataAddresses = [...]netip.Addr{
	netip.MustParseAddr("169.254.169.254"), // AWS, GCP, Azure, OpenStack, ...
	netip.MustParseAddr("fd00:ec2::254"),   // AWS over IPv6
	netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
	netip.MustParseAddr("169.254.170.2"),   // AWS ECS task metadata
}

// Evaluate decides for addr in a namespace with the given labels.
func (s *Snapshot) Evaluate(nsLabels labels.Set, namespace string, addr netip.Addr) Decision {
	if !addr.IsValid() {
		return Decision{Reason: ReasonInvalidAddress, Message: "the address is not valid"}
	}
	addr = addr.Unmap()
	// Through a NAT64 gateway or a 6to4 relay an IPv6 address reaches
	// the IPv4 address it embeds, so both must pass the cluster-wide
	// refusals.
	checked := []netip.Addr{addr}
	if v4, ok := embeddedIPv4(addr); ok {
		checked = append(checked, v4)
	}
	for _, a := range checked {
		via := ""
		if a != addr {
			via = fmt.Sprintf("%s embeds %s: ", addr, a)
		}
		if slices.Contains(metadataAddresses[:], a) {
			return Decision{Reason: ReasonMetadataAddress, Message: fmt.Sprintf("%s%s is a cloud metadata address", via, a)}
		}
		if p, ok := s.cluster.lookup(a); ok {
			return Decision{Reason: ReasonClusterNetwork, Message: fmt.Sprintf("%s%s is in the cluster's own networks (%s)", via, a, p.Source)}
		}
		if p, ok := s.denied.lookup(a); ok {
			return Decision{Reason: ReasonDeniedRange, Message: fmt.Sprintf("%s%s is in the denied range %s (%s)", via, a, p.Prefix, p.Source)}
		}
		if a != addr && (a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsUnspecified() || !a.IsGlobalUnicast()) {
			return Decision{Reason: ReasonDeniedRange, Message: fmt.Sprintf("%s%s is not a routable unicast address", via, a)}
		}
	}
	if len(s.rules) == 0 {
		return Decision{Allowed: true, Reason: ReasonAllowed, Message: "no AddressPolicy exists"}
	}
	for _, r := range s.rules {
		if r.Selector == nil || !r.Selector.Matches(nsLabels) {
			continue
		}
		for _, p := range r.Prefixes {
			if p.Contains(addr) {
				return Decision{Allowed: true, Reason: ReasonAllowedByPolicy, Message: fmt.Sprintf("%s is allowed by AddressPolicy %s (%s)", addr, r.Name, p)}
			}
		}
	}
	return Decision{Reason: ReasonNotAllowedByPolicy, Message: fmt.Sprintf("no AddressPolicy allows %s in namespace %s", addr, namespace)}
}

// Prefixes whose addresses carry an IPv4 address that a translator or
// relay on the path may deliver to: NAT64 (RFC 6052, RFC 8215) and the
// deprecated IPv4-compatible form in the last 32 bits, 6to4 (RFC 3056) in
// bits 16 to 48.
var (
	lastBitsV4 = [...]netip.Prefix{
		netip.MustParsePrefix("64:ff9b::/96"),
		netip.MustParsePrefix("64:ff9b:1::/48"),
		netip.MustParsePrefix("::/96"),
	}
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// embeddedIPv4 returns the IPv4 address an IPv6 address carries, if any.
func embeddedIPv4(a netip.Addr) (netip.Addr, bool) {
	if !a.Is6() || a.Is4In6() {
		return netip.Addr{}, false
	}
	b := a.As16()
	if sixToFour.Contains(a) {
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), true
	}
	for _, p := range lastBitsV4 {
		if p.Contains(a) {
			return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
		}
	}
	return netip.Addr{}, false
}

// prefixSet answers "which of these ranges holds addr" in a few map
// lookups, one per distinct prefix length, instead of a scan: a cluster of
// 5,000 Nodes has 10,000 or more ranges and addresses, and every endpoint
// of every sync asks.
type prefixSet struct {
	bits   []int // distinct prefix lengths, longest first
	byPref map[netip.Prefix]string
}

func newPrefixSet(in []NamedPrefix) prefixSet {
	s := prefixSet{byPref: make(map[netip.Prefix]string, len(in))}
	for _, np := range in {
		p := np.Prefix.Masked()
		if !p.IsValid() {
			continue
		}
		if _, dup := s.byPref[p]; dup {
			continue // the first source named wins
		}
		s.byPref[p] = np.Source
		if !slices.Contains(s.bits, p.Bits()) {
			s.bits = append(s.bits, p.Bits())
		}
	}
	slices.SortFunc(s.bits, func(a, b int) int { return b - a })
	return s
}

func (s prefixSet) lookup(addr netip.Addr) (NamedPrefix, bool) {
	for _, b := range s.bits {
		if b > addr.BitLen() {
			continue
		}
		p, err := addr.Prefix(b)
		if err != nil {
			continue
		}
		if src, ok := s.byPref[p]; ok {
			return NamedPrefix{Prefix: p, Source: src}, true
		}
	}
	return NamedPrefix{}, false
}

// Len is the number of distinct ranges (for logs and benchmarks).
func (s prefixSet) Len() int { return len(s.byPref) }
