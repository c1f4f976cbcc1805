// Package fairshare shares a fixed number of slots between namespaces: it
// is the scheduler of both the probe engine (pkg/probe, a slot is a probe
// in flight) and the resolver (pkg/resolve, a slot is a lookup in flight).
// The engines own their goroutines, their lock and what an entry does; this
// package decides which entry starts next and when, and its Waiter sleeps
// an engine's dispatch loop until then.
//
// # The rule
//
// Every namespace has a due queue of its own, and holds at most its fair
// share of the slots at once: share = ceil(slots / namespaces with
// entries), and never more than the slots in all. A tenant whose entries
// each hold a slot until a long timeout (black-holed addresses, a zone that
// never answers) therefore fills its own share and waits behind itself,
// while every other namespace keeps its slots: its entries start on time as
// long as its own share suffices for its own entries.
//
// A namespace that had the slots to itself may hold every one; when
// another namespace arrives, the entries it holds beyond its new share are
// taken back (Options.TakeBack cancels them, and the engine queues them
// again at once without counting a result), so a tenant that was first
// cannot keep the slots for the length of its timeouts. An entry already
// taken back, or removed, while in flight does not count towards the share
// it keeps: its slot is on its way back.
//
// The shares are rounded up so that every slot can be used, which means
// the namespaces at their share may hold every slot between them; with
// more namespaces than slots every share is one. A slot is therefore given
// out only once it is free, and then to the namespace with a due entry and
// the fewest entries in flight, among those to the one served least
// recently: a namespace is stamped with a running count when it starts an
// entry, and one never served has the oldest stamp (between two never
// served, the more overdue goes first). Within a namespace the most
// overdue entry goes first. Giving the slot to the most overdue entry of
// all instead starved namespaces: a hostile backlog is always older than
// anyone else's, and a namespace drops to none in flight whenever its
// entry ends, so it took back every slot it gave up.
//
// # The bound
//
// With the stamps, a namespace served while another with as few entries
// in flight waits goes behind it, so a namespace with none in flight waits
// for at most one start by every other namespace. Every slot frees within
// the longest time an entry may hold one (the engine's timeout), so a due
// entry starts within ceil(namespaces / slots) × that timeout, never
// forever.
//
// # The price
//
// A share is not lent out while several namespaces have entries: with two
// namespaces, one of them idle, the busy one uses half the slots. Taking
// lent slots back from entries that hang is what starving means, so the
// slots are sized for the busiest namespace.
package fairshare
