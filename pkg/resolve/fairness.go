package resolve

// Fairness between tenants, as in the probe engine.
//
// The lookup slots (Concurrency) are shared between namespaces by
// pkg/fairshare, which states the rule and its bound: each namespace holds
// at most ceil(Concurrency / namespaces with hostnames) lookups at once, a
// free slot goes to the namespace with the fewest in flight and then to
// the one served least recently, and a due lookup starts within
// ceil(namespaces / Concurrency) × Timeout.
//
// What the resolver adds: a lookup taken back for a newcomer is cancelled
// and queued again at once, and its result is dropped (it says nothing
// about the name), so the newcomer's first answer does not wait for
// hanging lookups to time out. Names leave their queue when they are
// dropped, and are only ever taken out of it when a slot is free for
// them: a name that is gone is never looked up again.

// cancelLookup takes back a lookup in flight for another namespace. It
// gives its slot back as soon as it returns, which Go's resolver does at
// once. Every lookup in flight has its context: start sets it under the
// lock that it is taken back under.
func cancelLookup(e *entry) { e.cancel() }
