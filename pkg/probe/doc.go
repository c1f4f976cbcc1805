// Package probe decides whether the ip:port named by each Mydemo answers TCP
// connections.
//
// A Prober keeps one schedule entry per object key. It is built to hold tens
// of thousands of keys, so it never starts a goroutine per key: a single
// scheduler goroutine keeps the entries in a min-heap ordered by the time
// their next probe is due and sleeps on one timer for the earliest of them.
// When an entry falls due it is handed to a fixed pool of Options.Concurrency
// workers, which do the dialing.
//
// Bounded pool trade-off: a probe of a black-holed address holds a worker
// for the whole Timeout. With Concurrency = C and Timeout = T, at most C/T
// such probes finish per second, whatever the number of keys. When more
// probes than that fall due, they queue in due-time order: every key is
// still probed (the oldest due first, so none starves), but later than its
// Period asks for. The pool therefore protects the process (file
// descriptors, goroutines, ephemeral ports) at the price of stretching the
// effective period under heavy failure; raise Concurrency, or lower
// Timeout, if that matters more.
//
// Judgement follows kubelet probes, with one exception: the first result
// after a key is added (or its address changes) decides at once, so users
// get quick feedback; afterwards FailureThreshold consecutive failures are
// needed to turn Reachable into Unreachable, and SuccessThreshold
// consecutive successes to turn it back.
package probe
