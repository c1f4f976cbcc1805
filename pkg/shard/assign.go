package shard

import (
	"hash/fnv"
	"slices"
	"strings"
)

// Owner returns the member that owns key among members, by rendezvous
// (highest random weight) hashing: each member scores the key and the
// highest score wins. When a member joins, it takes from every other
// member only the keys it now scores highest on, about 1/R of them; when
// one leaves, only its own keys move, each to its runner-up. A modulo over
// a sorted list would move almost every key instead. "" if members is
// empty.
func Owner(key string, members []string) string {
	var best string
	var bestScore uint64
	for _, m := range members {
		s := score(m, key)
		// Ties (a 64-bit collision) go to the smaller name, so every
		// replica picks the same owner whatever the order of members.
		if best == "" || s > bestScore || (s == bestScore && m < best) {
			best, bestScore = m, s
		}
	}
	return best
}

// score is member's weight for key. FNV-1a alone mixes the last bytes of
// its input poorly (keys that differ in a trailing digit would score
// alike), so the hash goes through a 64-bit finalizer (MurmurHash3's
// fmix64) that spreads every input bit over the output.
func score(member, key string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(member))
	// The separator keeps ("ab", "c") and ("a", "bc") apart.
	h.Write([]byte{0})
	h.Write([]byte(key))
	x := h.Sum64()
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// view is a set of members as one replica sees it, sorted, without
// duplicates: what a replica hashes over and publishes in its Lease.
type view []string

func newView(members []string) view {
	v := slices.Clone(members)
	slices.Sort(v)
	return slices.Compact(v)
}

// parseView reads a view as encode wrote it.
func parseView(s string) view {
	if s == "" {
		return nil
	}
	return newView(strings.Split(s, ","))
}

func (v view) encode() string { return strings.Join(v, ",") }

func (v view) equal(o view) bool { return slices.Equal(v, o) }

// assigns reports whether v gives key to member.
func (v view) assigns(key, member string) bool {
	return slices.Contains(v, member) && Owner(key, v) == member
}
