// Package integration tests the Mydemo API and controller against a real
// kube-apiserver, etcd and kube-controller-manager started once for this
// test binary. Controllers run in-process, each scoped to its test's
// namespace, and every Mydemo they see either points at a test host in a
// network namespace the test created or has probing off.
package integration

import (
	"os"
	"testing"

	"github.com/crddemo/crddemo/test/framework"
)

func TestMain(m *testing.M) {
	os.Exit(framework.RunMain(m, framework.Options{ControllerManager: true}))
}
