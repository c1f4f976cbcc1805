package policy

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2/ktesting"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	crddemofake "github.com/crddemo/crddemo/pkg/generated/clientset/versioned/fake"
)

// changes records OnChange calls.
type changes struct {
	mu  sync.Mutex
	got []string
}

func (c *changes) add(ns string) { c.mu.Lock(); c.got = append(c.got, ns); c.mu.Unlock() }
func (c *changes) list() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.got...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// runWatcher runs w until the returned stop is called (which cancels ctx
// and waits for Run to return), once its first snapshot is built.
func runWatcher(t *testing.T, ctx context.Context, cancel context.CancelFunc, w *Watcher) (stop func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	waitFor(t, "the first snapshot", w.HasSynced)
	return func() { cancel(); <-done }
}

func TestWatcher(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1"},
		Spec:       corev1.NodeSpec{PodCIDRs: []string{"10.244.1.0/24", "fd00:244:1::/64"}},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: "172.18.0.2"},
			{Type: corev1.NodeHostName, Address: "n1"},
		}},
	}
	apiServer := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "kubernetes", Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: "kubernetes"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"172.18.0.10"}}},
	}
	// Another slice in default that is not the API server's.
	other := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "web-abc", Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"198.51.100.77"}}},
	}
	svcCIDR := &networkingv1.ServiceCIDR{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes"}, Spec: networkingv1.ServiceCIDRSpec{CIDRs: []string{"10.96.0.0/12"}}}
	teamA := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a", Labels: map[string]string{"team": "a"}}}
	teamB := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "b", Labels: map[string]string{"team": "b"}}}
	kube := fake.NewClientset(node, apiServer, other, svcCIDR, teamA, teamB)
	kube.Discovery().(*fakediscovery.FakeDiscovery).Resources = []*metav1.APIResourceList{{
		GroupVersion: networkingv1.SchemeGroupVersion.String(),
		APIResources: []metav1.APIResource{{Name: "servicecidrs", Kind: "ServiceCIDR"}},
	}}
	// NewSimpleClientset: the field-managed tracker of NewClientset needs
	// an OpenAPI schema of our types, which this module does not generate.
	mydemos := crddemofake.NewSimpleClientset() //nolint:staticcheck

	var ch changes
	w, err := NewWatcher(kube, mydemos, Options{
		DeniedCIDRs: []netip.Prefix{netip.MustParsePrefix("10.200.0.0/16")},
		OnChange:    ch.add,
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := runWatcher(t, ctx, cancel, w)

	check := func(ns, addr, wantReason string) {
		t.Helper()
		reason, msg := w.Refusal(ns, netip.MustParseAddr(addr))
		if reason != wantReason || (reason != "") != (msg != "") {
			t.Errorf("Refusal(%s, %s) = %q, %q; want reason %q", ns, addr, reason, msg, wantReason)
		}
	}
	check("a", "10.96.0.1", ReasonClusterNetwork)      // ServiceCIDR
	check("a", "10.244.1.9", ReasonClusterNetwork)     // Pod CIDR
	check("a", "fd00:244:1::9", ReasonClusterNetwork)  // IPv6 Pod CIDR
	check("a", "172.18.0.2", ReasonClusterNetwork)     // Node address
	check("a", "172.18.0.10", ReasonClusterNetwork)    // API server endpoint
	check("a", "10.200.3.4", ReasonDeniedRange)        // flag
	check("a", "fd00:ec2::254", ReasonMetadataAddress) // metadata
	check("a", "198.51.100.77", "")                    // no policy: allowed
	check("a", "172.18.0.3", "")                       // a neighbour of the node
	check("missing", "198.51.100.77", "")              // no policy, unknown namespace

	// A policy for team a: b loses everything, a keeps its range only.
	policy := &crddemov1.AddressPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "team-a"},
		Spec: crddemov1.AddressPolicySpec{
			NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}},
			CIDRs:             []string{"198.51.100.0/24"},
		},
	}
	if _, err := mydemos.CrddemoV1().AddressPolicies().Create(ctx, policy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a re-sync of every namespace", func() bool { return len(ch.list()) == 1 && ch.list()[0] == "" })
	check("a", "198.51.100.77", "")
	check("a", "203.0.113.1", ReasonNotAllowedByPolicy)
	check("b", "198.51.100.77", ReasonNotAllowedByPolicy)
	// Outside what a's policy allows, a cluster address is told apart
	// from any other by nothing finer; inside it (the Node's new address
	// below), the policy still cannot open the cluster.
	check("a", "10.96.0.1", ReasonNotAllowedByPolicy)

	// Namespace b gets team a's label: only b is re-synced.
	teamB.Labels = map[string]string{"team": "a"}
	if _, err := kube.CoreV1().Namespaces().Update(ctx, teamB, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a re-sync of namespace b", func() bool { l := ch.list(); return len(l) == 2 && l[1] == "b" })
	check("b", "198.51.100.77", "")

	// A Node update that changes neither ranges nor addresses (a
	// heartbeat) changes nothing; a new address does.
	n, _ := kube.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	n.ResourceVersion = "2"
	if _, err := kube.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "198.51.100.200"})
	n.ResourceVersion = "3"
	if _, err := kube.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a re-sync after the Node's new address", func() bool { return len(ch.list()) == 3 })
	check("a", "198.51.100.200", ReasonClusterNetwork)
	time.Sleep(3 * coalesce)
	if got := ch.list(); len(got) != 3 {
		t.Errorf("OnChange calls = %q, want 3 (a heartbeat must not re-sync)", got)
	}

	// The policy goes: everything outside the cluster is allowed again.
	if err := mydemos.CrddemoV1().AddressPolicies().Delete(ctx, "team-a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a re-sync after the policy's deletion", func() bool { return len(ch.list()) == 4 })
	check("b", "203.0.113.1", "")

	stop()
}

func TestWatcherWithoutServiceCIDRAPI(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	kube := fake.NewClientset()
	w, err := NewWatcher(kube, crddemofake.NewClientset(), Options{ServiceCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}})
	if err != nil {
		t.Fatal(err)
	}
	stop := runWatcher(t, ctx, cancel, w)
	if reason, _ := w.Refusal("a", netip.MustParseAddr("10.0.3.4")); reason != ReasonClusterNetwork {
		t.Errorf("an address in --service-cidrs: reason %q, want %q", reason, ReasonClusterNetwork)
	}
	stop()
}

func TestTrimNode(t *testing.T) {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"x": "y"}, Annotations: map[string]string{"big": "z"}},
		Spec:       corev1.NodeSpec{PodCIDRs: []string{"10.244.1.0/24"}, ProviderID: "cloud://n1"},
		Status: corev1.NodeStatus{
			Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "172.18.0.2"}, {Type: corev1.NodeHostName, Address: "n1"}},
			Images:    []corev1.ContainerImage{{Names: []string{"registry.example/image:1"}, SizeBytes: 1}},
		},
	}
	got, _ := trim(node)
	n := got.(*corev1.Node)
	if len(n.Labels) != 0 || len(n.Annotations) != 0 || n.Spec.ProviderID != "" || len(n.Status.Images) != 0 {
		t.Errorf("trimmed Node keeps more than it needs: %+v", n)
	}
	if len(n.Status.Addresses) != 1 || n.Spec.PodCIDRs[0] != "10.244.1.0/24" || n.Name != "n1" {
		t.Errorf("trimmed Node lost what decisions read: %+v", n)
	}
}
