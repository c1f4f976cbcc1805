package policy

import (
	"fmt"
	"net/netip"
)

// Reasons of Intrinsic, for what an address is in every cluster and
// namespace. They are status reasons too (status.endpoints[].reason).
const (
	ReasonLoopback    = "Loopback"
	ReasonUnspecified = "Unspecified"
	ReasonLinkLocal   = "LinkLocal"
	ReasonNotUnicast  = "NotUnicast"
)

// Messages for the tenant, one per reason of Intrinsic. Nothing here is the
// admin's: what an address is by itself is no secret.
const (
	msgLoopback    = "a loopback address points at each node or Pod itself"
	msgUnspecified = "the unspecified address"
	msgLinkLocal   = "a link-local address is not routable from the cluster"
	msgNotUnicast  = "not a unicast address"
)

// ParseLiteral parses an address written in a Mydemo's spec (spec.ip,
// spec.endpoints[].ip). It refuses what the CRD's isIP refuses: a zone,
// and an IPv4-mapped IPv6 address, which fits neither address type of an
// EndpointSlice. Unlike the CRD it accepts non-canonical forms: the
// address is published in canonical form, so the only harm the CRD's rule
// prevents, a spec that reads differently from its slice, does not reach
// the controller's decisions.
func ParseLiteral(s string) (netip.Addr, error) {
	addr, err := netip.ParseAddr(s)
	if err != nil || addr.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	if addr.Is4In6() {
		return netip.Addr{}, fmt.Errorf("%q is an IPv4-mapped IPv6 address; write the IPv4 address", s)
	}
	return addr, nil
}

// Intrinsic decides what addr is by itself, before any cluster network or
// AddressPolicy: loopback, unspecified and link-local addresses mean
// something different on every node, and only unicast addresses can be
// endpoints. The CRD's CEL rules on spec.ip and spec.endpoints[].ip refuse
// the same addresses (test/integration/rules_test.go holds them to it);
// they are decided here again because hostname answers never pass the API
// server's validation, and objects stored before a rule existed did not.
// It comes before Snapshot.Evaluate: an address that fails here is
// refused for this reason whatever a policy says.
func Intrinsic(addr netip.Addr) Decision {
	refuse := func(reason, message, what string) Decision {
		return Decision{Reason: reason, Message: message, Detail: fmt.Sprintf("%s is %s", addr, what)}
	}
	switch {
	case addr.IsLoopback():
		return refuse(ReasonLoopback, msgLoopback, "a loopback address")
	case addr.IsUnspecified():
		return refuse(ReasonUnspecified, msgUnspecified, "the unspecified address")
	case addr.IsLinkLocalUnicast():
		return refuse(ReasonLinkLocal, msgLinkLocal, "a link-local address")
	case !addr.IsGlobalUnicast():
		// Multicast, broadcast, and the zero Addr.
		return refuse(ReasonNotUnicast, msgNotUnicast, "not a unicast address")
	}
	return Decision{Allowed: true, Reason: ReasonAllowed, Detail: fmt.Sprintf("%s is a unicast address", addr)}
}
