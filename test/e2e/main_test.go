// Package e2e tests the built controller binary, bin/mydemo-controller, and
// the manifests in deploy/ against a real kube-apiserver, etcd and
// kube-controller-manager started once for this test binary.
//
// The controller runs as separate processes, authenticated as the
// ServiceAccount that deploy/ creates and with only the permissions deploy/
// grants it. The tests run in a fixed order inside TestE2E because some of
// them change the shared control plane: one deletes the CRD for a while and
// the last one restarts kube-apiserver. Every Mydemo they create has probing
// off, so no controller ever dials an address.
//
// Run `make build` first: the tests use the binary as built, they do not
// build it.
package e2e

import (
	"os"
	"testing"

	"github.com/crddemo/crddemo/test/framework"
)

func TestMain(m *testing.M) {
	os.Exit(framework.RunMain(m, framework.Options{ControllerManager: true}))
}
