// Package policy is the one home of the address rules: whether a namespace
// may publish (and have probed) an address. ParseLiteral and Intrinsic
// judge what a spec literal and an address are by themselves (loopback,
// unspecified, link-local, not unicast), as the CRD's CEL does for
// literals; the controller applies them to DNS answers too. Evaluate then
// decides on a Snapshot of the cluster networks, the address rules and the
// namespace's labels, and never calls the API. Cluster networks (Service
// and Pod CIDRs, Node addresses, the API server's endpoints), the
// well-known cloud metadata addresses and admin-denied ranges are always
// refused. Without any Rule everything else is allowed; once a Rule
// exists, an address must be allowed by a Rule whose selector matches the
// namespace's labels, and one that is not is refused for that reason
// alone. An IPv6 address that carries an IPv4 address (NAT64, 6to4,
// Teredo, ...) is judged as that IPv4 address too. A Decision has a fixed
// message for the tenant and a detail for the admin.
// test/integration/rules_test.go holds the CRD and the admission policies
// of deploy/ to these rules.
package policy
