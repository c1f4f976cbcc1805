package controller

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/probe"
)

// BenchmarkDesiredUpToDate is the work of every sync of a converged
// Mydemo: parse the spec, build the desired Service and slices and compare
// them with the cached ones (which match, so nothing is written).
func BenchmarkDesiredUpToDate(b *testing.B) {
	md := newMydemo("web", "10.1.2.3", 8080)
	spec, _ := parseSpec(md, nil, nil)
	fams := serviceFamilies(spec.published(), nil)
	svc := newService(md, mainService(md), spec, fams)
	svc.Spec.ClusterIP = "10.96.0.10"
	svc.Spec.SessionAffinity = corev1.ServiceAffinityNone
	want := []sliceEndpoint{{addr: "10.1.2.3", ready: true}}
	existing := planSlices(md, mainService(md), want, spec.ports, nil).create
	b.ReportAllocs()
	for b.Loop() {
		spec, _ := parseSpec(md, nil, nil)
		if updatedService(svc, newService(md, mainService(md), spec, serviceFamilies(spec.published(), svc))) != nil {
			b.Fatal("Service differs")
		}
		if !planSlices(md, mainService(md), want, spec.ports, existing).empty() {
			b.Fatal("EndpointSlice differs")
		}
	}
}

// BenchmarkPlanSlicesFlip is one endpoint flip in a Mydemo of 1000
// endpoints: exactly one of its ten slices must be rewritten.
func BenchmarkPlanSlicesFlip(b *testing.B) {
	md := newMydemo("web", "10.1.2.3", 8080)
	want := make([]sliceEndpoint, 1000)
	for i := range want {
		want[i] = sliceEndpoint{addr: fmt.Sprintf("10.0.%d.%d", i/250, i%250+1), ready: true}
	}
	ports := []servicePort{{port: 8080, protocol: corev1.ProtocolTCP}}
	existing := planSlices(md, mainService(md), want, ports, nil).create
	want[500].ready = false
	b.ReportAllocs()
	for b.Loop() {
		if p := planSlices(md, mainService(md), want, ports, existing); len(p.update) != 1 {
			b.Fatalf("%d updates", len(p.update))
		}
	}
}

// BenchmarkComputeStatusUnchanged is the status half of a converged sync:
// compute the status and find it equal to the stored one.
func BenchmarkComputeStatusUnchanged(b *testing.B) {
	md := newMydemo("web", "10.1.2.3", 8080)
	spec, _ := parseSpec(md, nil, nil)
	obs := statusInput{pub: publication{published: true, serviceOurs: true, reason: ReasonPublished, message: "published", serviceName: "web", clusterIP: "10.96.0.10"}}
	for _, e := range spec.endpoints {
		obs.endpoints = append(obs.endpoints, endpointView{endpoint: e, port: 8080, probed: true, state: probe.State{Reachability: probe.Reachable, Since: fixedNow}})
	}
	md.Status = computeStatus(md, obs, fixedNow)
	b.ReportAllocs()
	for b.Loop() {
		if !statusEqual(md.Status, computeStatus(md, obs, fixedNow)) {
			b.Fatal("status differs")
		}
	}
}

// BenchmarkSyncConverged is a whole sync of a converged Mydemo, on fake
// clients: observe the caches, the resolver and the prober, plan the
// Service, slices and status, and find nothing to write.
func BenchmarkSyncConverged(b *testing.B) {
	stored, children := converge(b, newMydemo("web", "10.1.2.3", 8080), reachable)
	f := newFixture(b, []*crddemov1.Mydemo{stored}, children, nil)
	key := cache.MetaObjectToName(stored)
	f.prober.states[f.addr(key)] = reachable
	ctx := context.Background()
	q := queueState{waiting: f.controller.queue.Len}
	f.kubeClient.ClearActions()
	f.client.ClearActions()
	b.ReportAllocs()
	for b.Loop() {
		if r := f.controller.syncMydemo(ctx, key, q); r != (syncResult{}) {
			b.Fatalf("result %+v", r)
		}
	}
	if n := len(actionsOf(f.kubeClient.Actions())) + len(actionsOf(f.client.Actions())); n != 0 {
		b.Fatalf("%d writes: %q %q", n, actionsOf(f.kubeClient.Actions()), actionsOf(f.client.Actions()))
	}
}
