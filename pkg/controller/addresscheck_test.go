package controller

import (
	"net/netip"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
)

// detailPolicy refuses every address with a detail only the admin may see.
type detailPolicy struct{}

func (detailPolicy) ForNamespace(string) func(netip.Addr) (string, string, string) {
	return func(netip.Addr) (string, string, string) {
		return "ClusterNetwork", "in the cluster's own networks", "10.250.90.7/32 (InternalIP of Node secret-node)"
	}
}

func (detailPolicy) HasSynced() bool { return true }

// TestAddressCheckLogsDetail: the tenant gets the reason and the fixed
// message; the detail (which Node or range) goes to the log with the
// Mydemo's key, at -v=2 when the refusal is new to the status, and only at
// -v=4 once the status shows it.
func TestAddressCheckLogsDetail(t *testing.T) {
	addr := netip.MustParseAddr("10.250.90.7")
	md := &crddemov1.Mydemo{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "app"}}
	c := &Controller{addressPolicy: detailPolicy{}}
	for _, tc := range []struct {
		name   string
		status []crddemov1.EndpointStatus
		logged bool
	}{
		{"new refusal", nil, true},
		{"refusal in status", []crddemov1.EndpointStatus{{Address: addr.String(), Reason: "ClusterNetwork"}}, false},
		{"published before", []crddemov1.EndpointStatus{{Address: addr.String(), Published: true}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// -v=2, what an admin runs to see refusals.
			logger := ktesting.NewLogger(t, ktesting.NewConfig(ktesting.Verbosity(2), ktesting.BufferLogs(true)))
			buf := logger.GetSink().(ktesting.Underlier).GetBuffer()
			ctx := klog.NewContext(t.Context(), logger.WithValues("mydemo", klog.KObj(md)))
			m := md.DeepCopy()
			m.Status.Endpoints = tc.status
			reason, message := c.addressCheck(ctx, m)(addr)
			if reason != "ClusterNetwork" || message != "in the cluster's own networks" {
				t.Errorf("check = %q %q, want the reason and the fixed message", reason, message)
			}
			got := buf.String()
			if logged := strings.Contains(got, "secret-node"); logged != tc.logged {
				t.Errorf("detail at -v=2: %v, want %v; log:\n%s", logged, tc.logged, got)
			}
			if tc.logged && !strings.Contains(got, "ns/app") {
				t.Errorf("the log line does not name the Mydemo:\n%s", got)
			}
		})
	}
}
