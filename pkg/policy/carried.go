package policy

import (
	"fmt"
	"net/netip"
)

// IPv6 forms that carry an IPv4 address which a translator or relay on the
// path may deliver to. Through a NAT64 gateway, a 6to4 or Teredo relay or
// an ISATAP router, such an address reaches that IPv4 address, so the
// IPv4 address must pass the same rules as if it had been written.
var (
	// RFC 6052 well-known prefix: the IPv4 address in the last 32 bits.
	nat64WellKnown = netip.MustParsePrefix("64:ff9b::/96")
	// RFC 8215 local-use prefix. The operator picks a prefix of length
	// 48, 56, 64 or 96 inside it and the RFC 6052 layout of that length,
	// which the controller cannot know: every layout is a candidate.
	nat64LocalUse = netip.MustParsePrefix("64:ff9b:1::/48")
	// RFC 3056 6to4: the IPv4 address in bits 16 to 47.
	sixToFour = netip.MustParsePrefix("2002::/16")
	// RFC 4380 Teredo: the server's IPv4 address in bits 32 to 63, the
	// client's, bit-inverted, in the last 32 bits.
	teredo = netip.MustParsePrefix("2001::/32")
	// RFC 4291 IPv4-compatible (deprecated) and RFC 2765
	// IPv4-translated: the IPv4 address in the last 32 bits. The
	// IPv4-mapped form ::ffff:0:0/96 is unmapped before any of this.
	ipv4Compatible = netip.MustParsePrefix("::/96")
	ipv4Translated = netip.MustParsePrefix("::ffff:0:0:0/96")
)

// nat64LocalUseLayouts are the RFC 6052 prefix lengths that fit inside
// nat64LocalUse.
var nat64LocalUseLayouts = [...]int{48, 56, 64, 96}

// carried is an IPv4 address an IPv6 address may reach.
type carried struct {
	addr netip.Addr
	// form names the layout, for the admin's log.
	form string
	// certain is false where the layout is one of several candidates
	// (the local-use NAT64 prefix): bits that are the operator's prefix
	// in the real layout are read as IPv4 in the others.
	certain bool
}

// carriedIPv4 lists the IPv4 addresses a may reach, if any.
func carriedIPv4(a netip.Addr) []carried {
	if !a.Is6() {
		return nil
	}
	b := a.As16()
	last32 := netip.AddrFrom4([4]byte(b[12:16]))
	var out []carried
	switch {
	case nat64WellKnown.Contains(a):
		out = append(out, carried{last32, "NAT64 " + nat64WellKnown.String(), true})
	case nat64LocalUse.Contains(a):
		for _, bits := range nat64LocalUseLayouts {
			out = append(out, carried{rfc6052(b, bits), fmt.Sprintf("NAT64 %s, the /%d layout", nat64LocalUse, bits), false})
		}
	case sixToFour.Contains(a):
		out = append(out, carried{netip.AddrFrom4([4]byte(b[2:6])), "6to4", true})
	case teredo.Contains(a):
		client := [4]byte{^b[12], ^b[13], ^b[14], ^b[15]}
		out = append(out,
			carried{netip.AddrFrom4([4]byte(b[4:8])), "Teredo server", true},
			carried{netip.AddrFrom4(client), "Teredo client", true})
	case ipv4Compatible.Contains(a):
		out = append(out, carried{last32, "IPv4-compatible", true})
	case ipv4Translated.Contains(a):
		out = append(out, carried{last32, "IPv4-translated", true})
	}
	// The interface identifier is independent of the prefix: a 6to4
	// site may run ISATAP too.
	if isISATAP(b) {
		out = append(out, carried{last32, "ISATAP", true})
	}
	return out
}

// rfc6052 reads the IPv4 address of the RFC 6052 layout for a prefix of
// bits (32, 40, 48, 56, 64 or 96): it starts right after the prefix and
// skips bits 64 to 71, the u-octet, which carries none of it.
func rfc6052(b [16]byte, bits int) netip.Addr {
	var v4 [4]byte
	i := bits / 8
	for n := range v4 {
		if i == 8 {
			i++
		}
		v4[n] = b[i]
		i++
	}
	return netip.AddrFrom4(v4)
}

// isISATAP reports whether the interface identifier is RFC 5214's
// 0000:5efe or 0200:5efe (ignoring the universal/local and group bits),
// followed by the IPv4 address an ISATAP router delivers to, under any
// prefix.
func isISATAP(b [16]byte) bool {
	return b[8]&^0x03 == 0 && b[9] == 0 && b[10] == 0x5e && b[11] == 0xfe
}
