// Package shard spreads Mydemos over the live replicas of the controller:
// membership is one Lease per replica, a Mydemo's owner is chosen by
// rendezvous hashing over the live members, and a replica starts a Mydemo
// only once no other live replica claims it (fencing). docs/architecture.md
// argues the protocol; this package is its one home.
package shard
