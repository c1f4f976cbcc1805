// Package integration tests the Mydemo API and controller against a real
// kube-apiserver, etcd and kube-controller-manager started once for this
// test binary. Controllers run in-process, each scoped to its test's
// namespace, and every Mydemo they see either points at a test host in a
// network namespace the test created or has probing off.
//
// Tests that touch only their own namespace (and their own test hosts)
// call t.Parallel, so their waits for probe periods overlap. Tests that
// change what every namespace sees run alone, before the parallel ones
// start: admission policies installed from deploy/, AddressPolicies (once
// one exists, a namespace no policy selects is denied everything), Nodes
// (their addresses are cluster networks for every namespace) and cluster
// RBAC. make test runs this package with -parallel 8.
package integration

import (
	"os"
	"testing"

	"github.com/crddemo/crddemo/test/framework"
)

func TestMain(m *testing.M) {
	os.Exit(framework.RunMain(m, framework.Options{ControllerManager: true}))
}
