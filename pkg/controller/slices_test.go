package controller

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

func endpointsN(n int, ready bool) []sliceEndpoint {
	out := make([]sliceEndpoint, n)
	for i := range out {
		out[i] = sliceEndpoint{addr: fmt.Sprintf("10.0.%d.%d", i/250, i%250+1), ready: ready}
	}
	return out
}

var tcp80 = []servicePort{{name: "http", port: 80, protocol: corev1.ProtocolTCP}}

func TestPlanSlicesSplitsAndStaysStable(t *testing.T) {
	md := newMydemo("big", "10.1.2.3", 80)
	want := endpointsN(250, true)
	plan := planSlices(md, mainService(md), want, tcp80, nil)
	if len(plan.create) != 3 || len(plan.update)+len(plan.delete) != 0 {
		t.Fatalf("250 endpoints: %d creates", len(plan.create))
	}
	names := []string{"big-ipv4", "big-ipv4-1", "big-ipv4-2"}
	for i, s := range plan.create {
		if s.Name != names[i] || len(s.Endpoints) > maxEndpointsPerSlice || *s.Ports[0].Name != "http" {
			t.Errorf("slice %d: %s with %d endpoints", i, s.Name, len(s.Endpoints))
		}
	}
	existing := plan.create
	if again := planSlices(md, mainService(md), want, tcp80, existing); !again.empty() {
		t.Fatalf("the same endpoints plan writes: %+v", again)
	}

	// One flip rewrites only the slice that holds it.
	want[160].ready = false
	flip := planSlices(md, mainService(md), want, tcp80, existing)
	if len(flip.create)+len(flip.delete) != 0 || len(flip.update) != 1 || flip.update[0].Name != "big-ipv4-1" {
		t.Fatalf("one flip: %d creates, %d updates, %d deletes", len(flip.create), len(flip.update), len(flip.delete))
	}

	want[160].ready = true

	// Removing one endpoint rewrites its slice only; adding one fills the
	// slice with room.
	removed := append(append([]sliceEndpoint{}, want[:10]...), want[11:]...)
	if p := planSlices(md, mainService(md), removed, tcp80, existing); len(p.update) != 1 || p.update[0].Name != "big-ipv4" {
		t.Fatalf("removal: %d updates", len(p.update))
	}
	added := append(append([]sliceEndpoint{}, want...), sliceEndpoint{addr: "10.9.0.1", ready: true})
	if p := planSlices(md, mainService(md), added, tcp80, existing); len(p.update) != 1 || p.update[0].Name != "big-ipv4-2" || len(p.create) != 0 {
		t.Fatalf("addition: %d updates, %d creates", len(p.update), len(p.create))
	}
}

// TestPlanSlicesNewcomerInOrder: an endpoint that joins a slice ahead of
// the one it holds (a replica joining a role's Service whose member comes
// later in spec order) is written in spec order at once, so the next sync
// writes nothing.
func TestPlanSlicesNewcomerInOrder(t *testing.T) {
	md := newMydemo("db", "", 80)
	ref := roleService(md, "replica")
	first := planSlices(md, ref, []sliceEndpoint{{addr: "10.0.0.2", ready: true}}, tcp80, nil)
	want := []sliceEndpoint{{addr: "10.0.0.1", ready: true}, {addr: "10.0.0.2", ready: true}}
	joined := planSlices(md, ref, want, tcp80, first.create)
	if len(joined.update) != 1 || len(joined.create)+len(joined.delete) != 0 {
		t.Fatalf("a newcomer: %d creates, %d updates, %d deletes", len(joined.create), len(joined.update), len(joined.delete))
	}
	if again := planSlices(md, ref, want, tcp80, joined.update); !again.empty() {
		var got []string
		for _, e := range joined.update[0].Endpoints {
			got = append(got, e.Addresses...)
		}
		t.Errorf("the sync after a newcomer joined writes again (the slice held %v): %d updates", got, len(again.update))
	}
}

func TestPlanSlicesPerFamily(t *testing.T) {
	md := newMydemo("dual", "10.1.2.3", 80)
	plan := planSlices(md, mainService(md), []sliceEndpoint{{addr: "10.0.0.1", ready: true}, {addr: "2001:db8::1", ready: true}}, tcp80, nil)
	if len(plan.create) != 2 || plan.create[0].AddressType != discoveryv1.AddressTypeIPv4 || plan.create[1].AddressType != discoveryv1.AddressTypeIPv6 {
		t.Fatalf("dual-stack plan %+v", plan.create)
	}
	// The IPv6 endpoint goes away: its slice is deleted.
	p := planSlices(md, mainService(md), []sliceEndpoint{{addr: "10.0.0.1", ready: true}}, tcp80, plan.create)
	if len(p.delete) != 1 || p.delete[0].Name != "dual-ipv6" || len(p.update)+len(p.create) != 0 {
		t.Fatalf("dropping IPv6: %+v", p)
	}
}
