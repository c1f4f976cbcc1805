package integration

import (
	"context"
	"fmt"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
)

// familyNotServed is the status reason of an endpoint whose IP family the
// cluster serves no Services of.
const familyNotServed = "FamilyNotServed"

// TestFamilyNotServed: this control plane serves IPv4 Services only. An
// IPv6 endpoint is refused on its own (FamilyNotServed), whether it comes
// first in a new Mydemo or joins a published one, and the IPv4 endpoints
// keep their Service and slice throughout: the slice is never deleted and
// never loses its ready endpoint.
func TestFamilyNotServed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.startController()
	none := &crddemov1.Probe{Type: crddemov1.ProbeTypeNone}

	for _, tc := range []struct {
		name string
		eps  []crddemov1.Endpoint
		v6   string
	}{
		{"v6-first", []crddemov1.Endpoint{{IP: "2001:db8:5::1"}, {IP: "10.251.5.1"}}, "2001:db8:5::1"},
		{"v4-first", []crddemov1.Endpoint{{IP: "10.251.5.3"}, {IP: "2001:db8:5::3"}}, "2001:db8:5::3"},
	} {
		name := tc.name
		e.createMydemo(name, crddemov1.MydemoSpec{Endpoints: tc.eps, Port: 80, Probe: none})
		md := e.waitCondition(name, crddemov1.ConditionReady, metav1.ConditionTrue, "", converge)
		assertFamilyRefused(t, md, tc.v6)
		svc, err := e.getService(name)
		if err != nil {
			t.Fatal(err)
		}
		if len(svc.Spec.IPFamilies) != 1 || svc.Spec.IPFamilies[0] != "IPv4" {
			t.Errorf("%s: Service families %v, want [IPv4]", name, svc.Spec.IPFamilies)
		}
		e.waitEndpointReady(name+"-ipv4", true, converge)
	}

	e.createMydemo("grows", crddemov1.MydemoSpec{Endpoints: []crddemov1.Endpoint{{IP: "10.251.5.2"}}, Port: 80, Probe: none})
	e.waitCondition("grows", crddemov1.ConditionReady, metav1.ConditionTrue, "", converge)
	e.waitEndpointReady("grows-ipv4", true, converge)
	slice, err := e.getSlice("grows-ipv4")
	if err != nil {
		t.Fatal(err)
	}
	stopWatch := e.watchSlices(metav1.ListOptions{FieldSelector: "metadata.name=grows-ipv4", ResourceVersion: slice.ResourceVersion},
		func(t watch.EventType, s *discoveryv1.EndpointSlice) (bool, string) {
			lost := t == watch.Deleted || len(s.Endpoints) != 1 || s.Endpoints[0].Conditions.Ready == nil || !*s.Endpoints[0].Conditions.Ready
			return lost, fmt.Sprintf("the IPv4 slice lost its ready endpoint: %+v", s.Endpoints)
		})

	cur := e.getMydemo("grows")
	cur.Spec.Endpoints = append(cur.Spec.Endpoints, crddemov1.Endpoint{IP: "2001:db8:5::2"})
	if _, err := e.client.CrddemoV1().Mydemos(e.ns).Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.eventually(converge, "the IPv6 endpoint refused for its family", func() (bool, string) {
		md := e.getMydemo("grows")
		if md.Status.ObservedGeneration != md.Generation || len(md.Status.Endpoints) != 2 {
			return false, "status not current"
		}
		return md.Status.Endpoints[1].Reason == familyNotServed, md.Status.Endpoints[1].Reason
	})
	md := e.getMydemo("grows")
	assertFamilyRefused(t, md, "2001:db8:5::2")
	if c := meta.FindStatusCondition(md.Status.Conditions, crddemov1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Ready = %+v", c)
	}
	if stopWatch() > 0 {
		t.Fatal("the family that works lost its slice")
	}
}

// assertFamilyRefused checks that md's status refuses addr for its family
// and publishes every other endpoint.
func assertFamilyRefused(t *testing.T, md *crddemov1.Mydemo, addr string) {
	t.Helper()
	for _, ep := range md.Status.Endpoints {
		refused := ep.Address == addr
		if refused && (ep.Published || ep.Reason != familyNotServed) {
			t.Errorf("%s: endpoint %+v, want refused with %s", md.Name, ep, familyNotServed)
		}
		if !refused && (!ep.Published || !ep.Ready) {
			t.Errorf("%s: endpoint %+v, want published and ready", md.Name, ep)
		}
	}
}
