package controller

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/crddemo/crddemo/pkg/probe"
)

// BenchmarkDesiredUpToDate is the work of every sync of a converged
// Mydemo: build the desired Service and EndpointSlice and compare them with
// the cached ones (which match, so nothing is written).
func BenchmarkDesiredUpToDate(b *testing.B) {
	md := newMydemo("web", "10.1.2.3", 8080)
	spec, _ := parseSpec(md)
	svc := newService(md, spec)
	svc.Spec.ClusterIP = "10.96.0.10"
	svc.Spec.SessionAffinity = corev1.ServiceAffinityNone
	slice := newEndpointSlice(md, spec, true)
	b.ReportAllocs()
	for b.Loop() {
		if updatedService(svc, newService(md, spec)) != nil {
			b.Fatal("Service differs")
		}
		if updatedEndpointSlice(slice, newEndpointSlice(md, spec, true)) != nil {
			b.Fatal("EndpointSlice differs")
		}
	}
}

// BenchmarkDesiredChanged is a probe transition: the slice must be updated.
func BenchmarkDesiredChanged(b *testing.B) {
	md := newMydemo("web", "10.1.2.3", 8080)
	spec, _ := parseSpec(md)
	slice := newEndpointSlice(md, spec, true)
	b.ReportAllocs()
	for b.Loop() {
		if updatedEndpointSlice(slice, newEndpointSlice(md, spec, false)) == nil {
			b.Fatal("no difference found")
		}
	}
}

// BenchmarkComputeStatusUnchanged is the status half of a converged sync:
// compute the status and find it equal to the stored one.
func BenchmarkComputeStatusUnchanged(b *testing.B) {
	md := newMydemo("web", "10.1.2.3", 8080)
	pub := publication{published: true, reason: ReasonPublished, message: "published", serviceName: "web", clusterIP: "10.96.0.10"}
	reach := reachability{probed: true, endpoint: "10.1.2.3:8080", state: probe.State{Reachability: probe.Reachable}}
	md.Status = computeStatus(md, pub, reach, metav1.NewTime(fixedNow))
	b.ReportAllocs()
	for b.Loop() {
		if !statusEqual(md.Status, computeStatus(md, pub, reach, metav1.NewTime(fixedNow))) {
			b.Fatal("status differs")
		}
	}
}
