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

// NamedPrefix is a range with the name of where it came from, so that a
// refusal can say which range refused it.
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
	if slices.Contains(metadataAddresses[:], addr) {
		return Decision{Reason: ReasonMetadataAddress, Message: fmt.Sprintf("%s is a cloud metadata address", addr)}
	}
	if p, ok := s.cluster.lookup(addr); ok {
		return Decision{Reason: ReasonClusterNetwork, Message: fmt.Sprintf("%s is in the cluster network %s (%s)", addr, p.Prefix, p.Source)}
	}
	if p, ok := s.denied.lookup(addr); ok {
		return Decision{Reason: ReasonDeniedRange, Message: fmt.Sprintf("%s is in the denied range %s (%s)", addr, p.Prefix, p.Source)}
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
