package integration

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/test/framework"
)

// TestEndpointNamesWithoutHeadlessAndReverseDNS holds the docs to what
// CoreDNS does with a Mydemo's slices beyond a headless Service's names:
// it answers an endpoint's own name (spec.endpoints[].name, or the dashed
// address of an unnamed one) under a ClusterIP Service too, and it answers
// the reverse (PTR) lookup of every ready published address with that
// name under the Mydemo's Service and namespace. Probing is off: nothing
// is sent to these addresses.
func TestEndpointNamesWithoutHeadlessAndReverseDNS(t *testing.T) {
	t.Parallel()
	coredns := startCoreDNS(t)
	e := newEnv(t)
	e.startController()
	e.createMydemo("db", crddemov1.MydemoSpec{
		Endpoints: []crddemov1.Endpoint{{IP: "10.251.27.1", Name: "m-0"}, {IP: "10.251.27.2"}},
		Port:      5432,
		Probe:     &crddemov1.Probe{Type: crddemov1.ProbeTypeNone},
	})
	e.waitEndpointsReady("db", "2/2", converge)
	service := "db." + e.ns + ".svc." + framework.ClusterDomain
	bound := 5*time.Second + coredns.TTL
	waitDNS(t, coredns, "m-0."+service, dns.TypeA, bound, "10.251.27.1")
	waitDNS(t, coredns, "10-251-27-2."+service, dns.TypeA, bound, "10.251.27.2")

	ptr := func(addr string) []string {
		rev, err := dns.ReverseAddr(addr)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := coredns.Query(context.Background(), rev, dns.TypePTR)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, rr := range resp.Answer {
			if p, ok := rr.(*dns.PTR); ok {
				out = append(out, p.Ptr)
			}
		}
		return out
	}
	for addr, want := range map[string]string{"10.251.27.1": "m-0." + service + ".", "10.251.27.2": "10-251-27-2." + service + "."} {
		framework.Eventually(t, bound, "PTR "+addr+" = "+want, func() (bool, string) {
			got := ptr(addr)
			return slices.Equal(got, []string{want}), "answer " + strings.Join(got, ",")
		})
	}
}
