// Package probe is the probe engine: it decides when each endpoint of each
// Mydemo is probed and what the results mean (thresholds, flap damping). What
// a probe sends and accepts is the business of package check, which the
// engine calls through check.Checker only.
//
// A Prober keeps one schedule entry per target. It is built to hold
// 100,000 targets, so it never starts a goroutine per target: a single
// scheduler goroutine keeps the entries in one due-time min-heap per
// namespace, and the namespaces below their fair share of the slots in a
// heap ordered by their earliest due entry (see fairness.go). When an
// entry falls due it is handed to a fixed pool of Options.Concurrency
// workers, which run the Checker built for the target's Spec (one per
// distinct spec, shared).
//
// Bounded pool trade-off: a probe of a black-holed address holds a worker
// for the whole Timeout. With Concurrency = C and Timeout = T, at most C/T
// such probes finish per second, whatever the number of targets. When more
// probes than that fall due, they queue in due-time order: every target is
// still probed (the oldest due first, so none starves), but later than its
// Period asks for, which ObserveLateness and ObserveSaturated make visible.
// The pool therefore protects the process (file descriptors, goroutines,
// ephemeral ports) at the price of stretching the effective period under
// heavy failure; raise Concurrency, or lower Timeout, if that matters more.
//
// Judgement follows kubelet probes, with one exception: the first result
// after a key is added (or its address changes) decides at once, so users
// get quick feedback; afterwards FailureThreshold consecutive failures are
// needed to turn Reachable into Unreachable, and SuccessThreshold
// consecutive successes to turn it back.
package probe
