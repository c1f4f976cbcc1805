package resolve

import (
	"net/netip"
	"time"
)

// The room of one key.
//
// A key keeps at most MaxAddrs addresses across all its names, in the order
// Sync lists them: the first name keeps the first MaxAddrs addresses of its
// answer, the next one what is left, and so on, as the controller
// publishes them. An answer's addresses beyond its room are counted
// (Answer.Omitted) and dropped, so a name answering thousands of records
// costs what can be published, not what was answered. Each name's answer
// counts in full, even addresses another name of the key answered too.
//
// Rooms move with the answers: an earlier name whose answer grows trims
// the names after it at once; one whose answer shrinks leaves them more
// room, which they fill by being looked up again at once, since the
// addresses they left out were not kept.

// allotLocked gives every name of set its room, trims the answers that no
// longer fit, and queues a lookup for every name that left addresses out
// and has more room now. It reports whether an answer changed.
func (r *Resolver) allotLocked(set *hostSet, now time.Time) (changed bool) {
	left := r.maxAddrs
	for _, e := range set.order {
		if left > e.room && e.answer.Omitted > 0 {
			// Only once per growth, so a lookup that keeps failing
			// (and so keeps the trimmed answer) is not repeated.
			r.sched.Reschedule(e, now)
			r.waiter.Nudge()
		}
		e.room = left
		if n := len(e.answer.Addrs); n > left {
			e.answer.Omitted += n - left
			e.answer.Addrs = firstAddrs(e.answer.Addrs, left)
			changed = true
		}
		left -= len(e.answer.Addrs)
	}
	return changed
}

// firstAddrs returns the first n of addrs (all if fewer) in a slice of its
// own, so that a long answer's array is not kept alive by a short prefix.
func firstAddrs(addrs []netip.Addr, n int) []netip.Addr {
	n = min(n, len(addrs))
	if n == 0 {
		return nil
	}
	out := make([]netip.Addr, n)
	copy(out, addrs)
	return out
}
