package policy

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// realisticNode is a Node as a kubelet reports it: labels, annotations,
// capacity, conditions, images and daemon endpoints, most of which the
// watcher never reads.
func realisticNode(i int) *corev1.Node {
	name := fmt.Sprintf("node-%05d.cluster.example.internal", i)
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, UID: "6b2f3c4d-0000-4000-8000-000000000000", ResourceVersion: "123456789",
			Labels: map[string]string{
				"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
				"node.kubernetes.io/instance-type": "m6i.2xlarge", "topology.kubernetes.io/zone": "eu-west-1a",
				"topology.kubernetes.io/region": "eu-west-1",
			},
			Annotations: map[string]string{
				"node.alpha.kubernetes.io/ttl":                           "0",
				"volumes.kubernetes.io/controller-managed-attach-detach": "true",
				"csi.volume.kubernetes.io/nodeid":                        `{"ebs.csi.aws.com":"i-0123456789abcdef0"}`,
			},
		},
		Spec: corev1.NodeSpec{
			PodCIDR:    fmt.Sprintf("10.%d.%d.0/24", 64+i/256, i%256),
			PodCIDRs:   []string{fmt.Sprintf("10.%d.%d.0/24", 64+i/256, i%256), fmt.Sprintf("fd00:10:%x::/64", i)},
			ProviderID: "aws:///eu-west-1a/i-0123456789abcdef0",
		},
		Status: corev1.NodeStatus{
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: fmt.Sprintf("172.20.%d.%d", i/256, i%256)},
				{Type: corev1.NodeInternalIP, Address: fmt.Sprintf("fd00:20::%x", i)},
				{Type: corev1.NodeHostName, Address: name},
				{Type: corev1.NodeInternalDNS, Address: name},
			},
			Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("32Gi"), corev1.ResourcePods: resource.MustParse("110")},
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("7910m"), corev1.ResourceMemory: resource.MustParse("31Gi"), corev1.ResourcePods: resource.MustParse("110")},
			NodeInfo:    corev1.NodeSystemInfo{KernelVersion: "6.1.0-18-amd64", OSImage: "Debian GNU/Linux 12 (bookworm)", ContainerRuntimeVersion: "containerd://2.0.0", KubeletVersion: "v1.37.2", KubeProxyVersion: "v1.37.2"},
		},
	}
	for _, c := range []corev1.NodeConditionType{corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure} {
		n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: c, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", Message: "kubelet has sufficient memory available"})
	}
	for j := range 30 {
		n.Status.Images = append(n.Status.Images, corev1.ContainerImage{
			Names:     []string{fmt.Sprintf("registry.example.com/team/app-%d@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", j), fmt.Sprintf("registry.example.com/team/app-%d:v1.2.3", j)},
			SizeBytes: 123456789,
		})
	}
	return n
}

// heapOf is the heap that build's result keeps alive.
func heapOf(build func() any) (uint64, any) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	v := build()
	runtime.GC()
	runtime.ReadMemStats(&after)
	return after.HeapAlloc - before.HeapAlloc, v
}

// BenchmarkNodeCache5000 reports what 5,000 Nodes cost in the watcher's
// cache, trimmed and as the API sends them, and how long a snapshot of
// them takes to build.
func BenchmarkNodeCache5000(b *testing.B) {
	const nodes = 5000
	full, fullV := heapOf(func() any {
		out := make([]*corev1.Node, nodes)
		for i := range out {
			out[i] = realisticNode(i)
		}
		return out
	})
	trimmed, trimmedV := heapOf(func() any {
		out := make([]any, nodes)
		for i := range out {
			out[i], _ = trim(realisticNode(i))
		}
		return out
	})
	runtime.KeepAlive(fullV)

	var ranges []NamedPrefix
	for _, o := range trimmedV.([]any) {
		n := o.(*corev1.Node)
		for _, c := range n.Spec.PodCIDRs {
			ranges = append(ranges, NamedPrefix{netip.MustParsePrefix(c), "Pod CIDR of Node " + n.Name})
		}
		for _, a := range n.Status.Addresses {
			addr := netip.MustParseAddr(a.Address)
			ranges = append(ranges, NamedPrefix{netip.PrefixFrom(addr, addr.BitLen()), "address of Node " + n.Name})
		}
	}
	for b.Loop() {
		NewSnapshot(ranges, nil, nil)
	}
	// After the loop: b.Loop resets the timer and the metrics on entry.
	b.ReportMetric(float64(full)/nodes, "full-B/node")
	b.ReportMetric(float64(trimmed)/nodes, "trimmed-B/node")
	b.ReportMetric(float64(trimmed)/(1<<20), "trimmed-MiB/5000")
}

// BenchmarkEvaluate5000Nodes is one decision against the ranges of 5,000
// Nodes and 50 policies: what every endpoint of every sync pays.
func BenchmarkEvaluate5000Nodes(b *testing.B) {
	var ranges []NamedPrefix
	for i := range 5000 {
		ranges = append(ranges,
			NamedPrefix{netip.MustParsePrefix(fmt.Sprintf("10.%d.%d.0/24", 64+i/256, i%256)), "pod"},
			NamedPrefix{netip.MustParsePrefix(fmt.Sprintf("fd00:10:%x::/64", i)), "pod"},
			NamedPrefix{netip.MustParsePrefix(fmt.Sprintf("172.20.%d.%d/32", i/256, i%256)), "node"},
			NamedPrefix{netip.MustParsePrefix(fmt.Sprintf("fd00:20::%x/128", i)), "node"})
	}
	var rules []Rule
	for i := range 50 {
		rules = append(rules, Rule{Name: fmt.Sprintf("team-%d", i), Selector: labels.SelectorFromSet(labels.Set{"team": fmt.Sprint(i)}), Prefixes: []netip.Prefix{netip.MustParsePrefix(fmt.Sprintf("198.18.%d.0/24", i))}})
	}
	s := NewSnapshot(ranges, nil, rules)
	ns := labels.Set{"team": "49"}
	addr := netip.MustParseAddr("198.18.49.7")
	for b.Loop() {
		if d := s.Evaluate(ns, "team-49", addr); !d.Allowed {
			b.Fatal(d)
		}
	}
}
