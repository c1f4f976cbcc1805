package controller

import (
	"net/netip"
	"strings"
	"testing"

	"k8s.io/client-go/tools/cache"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/resolve"
)

// Addresses the resolver did not keep (it keeps no more than can be
// published) still count in status: how many the name answered, and how
// many of them are not published.
func TestSyncReportsAddressesTheResolverOmitted(t *testing.T) {
	md := newMydemo("wide", "", 80, func(md *crddemov1.Mydemo) {
		md.Spec.IP = ""
		md.Spec.Endpoints = []crddemov1.Endpoint{{Hostname: "wide.test"}}
		md.Spec.Probe = &crddemov1.Probe{Type: crddemov1.ProbeTypeNone}
	})
	key := cache.MetaObjectToName(md)
	f := newFixture(t, []*crddemov1.Mydemo{md}, nil, nil)
	var addrs []netip.Addr
	for i := range maxEndpoints {
		addrs = append(addrs, netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)}))
	}
	f.resolver.answers["wide.test"] = resolve.Answer{Resolved: true, Addrs: addrs, Omitted: 3000}
	if r := f.sync(key); r.retry {
		t.Fatalf("sync: %+v", r)
	}
	st := f.storedMydemo(key).Status
	if st.TotalEndpoints != maxEndpoints || st.Hostnames[0].Addresses != maxEndpoints+3000 || !strings.Contains(st.Hostnames[0].Message, "3000 addresses") {
		t.Errorf("%d endpoints, hostname status %+v", st.TotalEndpoints, st.Hostnames)
	}
}
