package policy

import (
	"fmt"
	"net/netip"

	"k8s.io/apimachinery/pkg/labels"
)

// Decision reasons, CamelCase so they can be used as condition reasons.
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

// Snapshot is everything a decision depends on.
type Snapshot struct {
	ClusterNetworks []NamedPrefix // Service/Pod CIDRs, Node and API server addresses (as /32, /128)
	Denied          []NamedPrefix // admin-added ranges
	Rules           []Rule
}

// MetadataAddresses are cloud metadata services, always refused.
var metadataAddresses = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"),
	netip.MustParseAddr("fd00:ec2::254"),
	netip.MustParseAddr("100.100.100.200"),
}

// Evaluate decides for addr in a namespace with the given labels.
func Evaluate(s *Snapshot, nsLabels labels.Set, namespace string, addr netip.Addr) Decision {
	if !addr.IsValid() {
		return Decision{Reason: ReasonInvalidAddress, Message: "the address is not valid"}
	}
	addr = addr.Unmap()
	for _, m := range metadataAddresses {
		if addr == m {
			return Decision{Reason: ReasonMetadataAddress, Message: fmt.Sprintf("%s is a cloud metadata address", addr)}
		}
	}
	for _, p := range s.ClusterNetworks {
		if p.Prefix.Contains(addr) {
			return Decision{Reason: ReasonClusterNetwork, Message: fmt.Sprintf("%s is in the cluster network %s (%s)", addr, p.Prefix, p.Source)}
		}
	}
	for _, p := range s.Denied {
		if p.Prefix.Contains(addr) {
			return Decision{Reason: ReasonDeniedRange, Message: fmt.Sprintf("%s is in the denied range %s (%s)", addr, p.Prefix, p.Source)}
		}
	}
	if len(s.Rules) == 0 {
		return Decision{Allowed: true, Reason: ReasonAllowed, Message: "no address policy exists"}
	}
	for _, r := range s.Rules {
		if r.Selector == nil || !r.Selector.Matches(nsLabels) {
			continue
		}
		for _, p := range r.Prefixes {
			if p.Contains(addr) {
				return Decision{Allowed: true, Reason: ReasonAllowedByPolicy, Message: fmt.Sprintf("%s is allowed by policy %s (%s)", addr, r.Name, p)}
			}
		}
	}
	return Decision{Reason: ReasonNotAllowedByPolicy, Message: fmt.Sprintf("no address policy allows %s in namespace %s", addr, namespace)}
}
