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

// Messages for the tenant, one per reason (and per whether the written
// address or the IPv4 address it carries was refused). They are fixed so a
// refusal tells the tenant the reason code and nothing more: the cluster's
// Nodes, ranges and flags are the admin's, and a tenant who may not list
// them must not learn them by trying addresses. Decision.Detail has the
// rest, for the controller's log. They name no address: the status entry
// and the Event already do.
const (
	msgInvalid                   = "not a valid address"
	msgClusterNetwork            = "in the cluster's own networks"
	msgClusterNetworkCarried     = "it carries an IPv4 address in the cluster's own networks"
	msgMetadataAddress           = "a cloud metadata address"
	msgMetadataAddressCarried    = "it carries a cloud metadata address"
	msgDeniedRange               = "in a range the cluster's administrator denies"
	msgDeniedRangeCarried        = "it carries an IPv4 address in a range the cluster's administrator denies"
	msgNotRoutableCarried        = "it carries an IPv4 address that is not a routable unicast address"
	msgNotAllowedByPolicy        = "no AddressPolicy allows it in this namespace"
	msgNotAllowedByPolicyCarried = "it carries an IPv4 address no AddressPolicy allows in this namespace"
)

// Decision is the verdict for one address in one namespace.
type Decision struct {
	Allowed bool
	Reason  string
	// Message is for the tenant (status, Events): fixed per reason.
	Message string
	// Detail is for the admin (the controller's log): which range, Node,
	// flag or policy decided, and the IPv4 address a form carries.
	Detail string
}

// NamedPrefix is a range with where it came from ("Node n1's Pod range",
// "flag --denied-cidrs"). The source reaches the controller's log only,
// never a tenant: see Decision.
type NamedPrefix struct {
	Prefix netip.Prefix
	Source string
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
//
// An address is judged as every address it may reach: itself and each
// IPv4 address it carries (see carriedIPv4). Once an AddressPolicy exists,
// all of them must be inside the ranges a policy allows the namespace, and
// that is checked first: an address outside what the admin allowed the
// tenant is NotAllowedByPolicy, whatever else it is, so that only
// addresses the admin handed the tenant can tell it, through a finer
// reason, that they are cluster networks, metadata or denied ranges. Then
// all of them must pass the cluster-wide refusals.
func (s *Snapshot) Evaluate(nsLabels labels.Set, namespace string, addr netip.Addr) Decision {
	if !addr.IsValid() {
		return Decision{Reason: ReasonInvalidAddress, Message: msgInvalid, Detail: "the address is not valid"}
	}
	addr = addr.Unmap()
	carried := carriedIPv4(addr)
	if len(s.rules) > 0 {
		if d, refused := s.policyRefusal(nsLabels, namespace, addr, carried); refused {
			return d
		}
	}
	if d, refused := s.clusterRefusal(addr, false); refused {
		return d
	}
	for _, c := range carried {
		if d, refused := s.clusterRefusal(c.addr, true); refused {
			d.Detail = fmt.Sprintf("%s carries %s (%s): %s", addr, c.addr, c.form, d.Detail)
			return d
		}
		// Where the layout is only a candidate, zero bits of the
		// operator's prefix read as 0.0.0.0/8 in the other layouts, so
		// only what no prefix holds by chance is refused there.
		if (c.certain && !c.addr.IsGlobalUnicast()) || c.addr.IsLoopback() || c.addr.IsLinkLocalUnicast() {
			return Decision{Reason: ReasonDeniedRange, Message: msgNotRoutableCarried,
				Detail: fmt.Sprintf("%s carries %s (%s), which is not a routable unicast address", addr, c.addr, c.form)}
		}
	}
	if len(s.rules) == 0 {
		return Decision{Allowed: true, Reason: ReasonAllowed, Detail: "no AddressPolicy exists"}
	}
	return Decision{Allowed: true, Reason: ReasonAllowedByPolicy, Detail: fmt.Sprintf("allowed in namespace %s by AddressPolicy", namespace)}
}

// policyRefusal refuses addr unless it and every IPv4 address it carries
// are in a range of a Rule that selects the namespace.
func (s *Snapshot) policyRefusal(nsLabels labels.Set, namespace string, addr netip.Addr, carried []carried) (Decision, bool) {
	if !s.allows(nsLabels, addr) {
		return Decision{Reason: ReasonNotAllowedByPolicy, Message: msgNotAllowedByPolicy,
			Detail: fmt.Sprintf("no AddressPolicy allows %s in namespace %s", addr, namespace)}, true
	}
	for _, c := range carried {
		if !s.allows(nsLabels, c.addr) {
			return Decision{Reason: ReasonNotAllowedByPolicy, Message: msgNotAllowedByPolicyCarried,
				Detail: fmt.Sprintf("%s carries %s (%s), which no AddressPolicy allows in namespace %s", addr, c.addr, c.form, namespace)}, true
		}
	}
	return Decision{}, false
}

func (s *Snapshot) allows(nsLabels labels.Set, addr netip.Addr) bool {
	for _, r := range s.rules {
		if r.Selector == nil || !r.Selector.Matches(nsLabels) {
			continue
		}
		if slices.ContainsFunc(r.Prefixes, func(p netip.Prefix) bool { return p.Contains(addr) }) {
			return true
		}
	}
	return false
}

// clusterRefusal applies the refusals that hold in every namespace: the
// metadata addresses, the cluster's own networks and the denied ranges.
func (s *Snapshot) clusterRefusal(a netip.Addr, carried bool) (Decision, bool) {
	pick := func(direct, viaCarried string) string {
		if carried {
			return viaCarried
		}
		return direct
	}
	if slices.Contains(metadataAddresses[:], a) {
		return Decision{Reason: ReasonMetadataAddress, Message: pick(msgMetadataAddress, msgMetadataAddressCarried),
			Detail: fmt.Sprintf("%s is a cloud metadata address", a)}, true
	}
	if p, ok := s.cluster.lookup(a); ok {
		return Decision{Reason: ReasonClusterNetwork, Message: pick(msgClusterNetwork, msgClusterNetworkCarried),
			Detail: fmt.Sprintf("%s is in %s (%s)", a, p.Prefix, p.Source)}, true
	}
	if p, ok := s.denied.lookup(a); ok {
		return Decision{Reason: ReasonDeniedRange, Message: pick(msgDeniedRange, msgDeniedRangeCarried),
			Detail: fmt.Sprintf("%s is in %s (%s)", a, p.Prefix, p.Source)}, true
	}
	return Decision{}, false
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
