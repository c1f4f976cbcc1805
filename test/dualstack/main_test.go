// Package dualstack tests dual-stack Mydemos on a control plane whose
// Services may have IPv4 and IPv6 cluster IPs. The single-stack behaviour
// (ServiceRejected) is tested in test/integration, whose cluster is IPv4
// only.
package dualstack

import (
	"os"
	"testing"

	"github.com/crddemo/crddemo/test/framework"
)

// serviceCIDRs are an IPv4 and an IPv6 Service range.
const serviceCIDRs = "10.96.0.0/16,fd00:10:96::/112"

func TestMain(m *testing.M) {
	os.Exit(framework.RunMain(m, framework.Options{
		ControllerManager: true,
		APIServerFlags:    []string{"--service-cluster-ip-range=" + serviceCIDRs},
	}))
}
