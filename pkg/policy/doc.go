// Package policy decides whether a namespace may publish (and have probed)
// an address. The decision is pure: Evaluate takes a Snapshot of the cluster
// networks, the address rules and the namespace's labels, and never calls
// the API. Cluster networks (Service and Pod CIDRs, Node addresses, the API
// server's endpoints), the well-known cloud metadata addresses and
// admin-denied ranges are always refused. Without any Rule everything else
// is allowed; once a Rule exists, an address must be allowed by a Rule whose
// selector matches the namespace's labels.
package policy
