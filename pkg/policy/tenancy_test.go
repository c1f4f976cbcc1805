package policy

// Attempts to publish what the cluster's networks or a policy refuse.

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2/ktesting"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	crddemofake "github.com/crddemo/crddemo/pkg/generated/clientset/versioned/fake"
)

// TestEmbeddedIPv4: IPv6 forms that a network translates to an IPv4
// address (NAT64 64:ff9b::/96 of RFC 6052, the local-use NAT64 prefix
// 64:ff9b:1::/48 of RFC 8215, 6to4 2002::/16, IPv4-compatible ::/96) are
// judged as the IPv4 address they carry too: on a cluster with a NAT64
// gateway they would reach Service IPs, Nodes and metadata services.
func TestEmbeddedIPv4(t *testing.T) {
	cluster := []NamedPrefix{
		{netip.MustParsePrefix("10.96.0.0/12"), "ServiceCIDR kubernetes"},
		{netip.MustParsePrefix("172.18.0.2/32"), "address of Node n1"},
	}
	denied := []NamedPrefix{{netip.MustParsePrefix("203.0.113.0/24"), "flag --denied-cidrs"}}
	s := NewSnapshot(cluster, denied, nil)
	for _, a := range []string{
		"64:ff9b::a60:1",     // NAT64 WKP, 10.96.0.1 (Service IP)
		"64:ff9b::ac12:2",    // NAT64 WKP, 172.18.0.2 (Node)
		"64:ff9b::a9fe:a9fe", // NAT64 WKP, 169.254.169.254 (metadata)
		"64:ff9b::cb00:7109", // NAT64 WKP, 203.0.113.9 (--denied-cidrs)
		"64:ff9b:1::a60:1",   // RFC 8215 local-use NAT64 /96 form
		"2002:a60:1::1",      // 6to4 of 10.96.0.1
		"::a60:1",            // IPv4-compatible (deprecated) 10.96.0.1
	} {
		if d := s.Evaluate(labels.Set{}, "ns", netip.MustParseAddr(a)); d.Allowed {
			t.Errorf("Evaluate(%s) = allowed (%s); it embeds a refused IPv4 address", a, d.Message)
		}
	}
}

// TestMalformedSelectorAllowsNothing: an AddressPolicy whose
// namespaceSelector is not a valid selector (stored before the CRD
// validated it) still switches restriction on, and allows nothing: were it
// skipped, a lone malformed policy would mean "no policy", and everything
// would be allowed everywhere.
func TestMalformedSelectorAllowsNothing(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tenant", Labels: map[string]string{"team": "x"}}}
	kube := fake.NewClientset(ns)
	ap := &crddemov1.AddressPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "only-team-a"},
		Spec: crddemov1.AddressPolicySpec{
			NamespaceSelector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "team", Operator: "in", Values: []string{"a"}}, // typo of In
			}},
			CIDRs: []string{"198.51.100.0/24"},
		},
	}
	mydemos := crddemofake.NewSimpleClientset(ap) //nolint:staticcheck
	w, err := NewWatcher(kube, mydemos, Options{})
	if err != nil {
		t.Fatal(err)
	}
	stop := runWatcher(t, ctx, cancel, w)
	if reason, msg := w.Refusal("tenant", netip.MustParseAddr("192.0.2.10")); reason == "" {
		t.Errorf("with one (malformed) AddressPolicy, 192.0.2.10 in a namespace it does not select is allowed (%q %q); want refused", reason, msg)
	}
	stop()
}

// TestUncachedNamespaceRefusedWhilePoliciesExist: while policies exist, a
// namespace not yet in the cache is refused rather than decided as if it
// had no labels, which a NotIn or DoesNotExist selector would allow.
func TestUncachedNamespaceRefusedWhilePoliciesExist(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	kube := fake.NewClientset() // namespace "restricted" (tier=restricted) not cached yet
	ap := &crddemov1.AddressPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "not-restricted"},
		Spec: crddemov1.AddressPolicySpec{
			NamespaceSelector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "tier", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"restricted"}},
			}},
			CIDRs: []string{"198.51.100.0/24"},
		},
	}
	w, err := NewWatcher(kube, crddemofake.NewSimpleClientset(ap), Options{}) //nolint:staticcheck
	if err != nil {
		t.Fatal(err)
	}
	stop := runWatcher(t, ctx, cancel, w)
	if reason, _ := w.Refusal("restricted", netip.MustParseAddr("198.51.100.1")); reason == "" {
		t.Errorf("an uncached namespace is decided as unlabelled and allowed; want refused (fail closed) until its labels are known")
	}
	stop()
}

// TestRefusalRevealsOnlyTheReason: the tenant's message is one fixed text
// per reason, naming no Node, range, source or flag value, whichever
// address was refused; the detail, for the admin's log, names them. In a
// namespace no AddressPolicy selects, every address is NotAllowedByPolicy,
// the Node's and the denied range's included.
func TestRefusalRevealsOnlyTheReason(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "secret-node-7"},
		Spec:       corev1.NodeSpec{PodCIDRs: []string{"10.250.64.0/24"}},
		Status:     corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.250.90.7"}}},
	}
	tenant := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tenant"}}
	kube := fake.NewClientset(node, tenant)
	mydemos := crddemofake.NewSimpleClientset() //nolint:staticcheck
	denied := netip.MustParsePrefix("203.0.113.0/25")
	w, err := NewWatcher(kube, mydemos, Options{DeniedCIDRs: []netip.Prefix{denied}})
	if err != nil {
		t.Fatal(err)
	}
	stop := runWatcher(t, ctx, cancel, w)
	defer stop()

	secrets := []string{"secret-node-7", "10.250.64.0", "/24", "/25", "203.0.113.0", "--denied-cidrs", "Node", "InternalIP"}
	revealed := func(s string) string {
		for _, x := range secrets {
			if strings.Contains(s, x) {
				return x
			}
		}
		return ""
	}
	cases := []struct{ addr, reason, message, detail string }{
		{"10.250.90.7", ReasonClusterNetwork, msgClusterNetwork, "InternalIP of Node secret-node-7"},
		{"10.250.64.44", ReasonClusterNetwork, msgClusterNetwork, "10.250.64.0/24 (Pod range of Node secret-node-7)"},
		{"203.0.113.9", ReasonDeniedRange, msgDeniedRange, "203.0.113.0/25 (flag --denied-cidrs)"},
		{"64:ff9b::afa:5a07", ReasonClusterNetwork, msgClusterNetworkCarried, "InternalIP of Node secret-node-7"},
		{"100.100.100.200", ReasonMetadataAddress, msgMetadataAddress, "cloud metadata"},
	}
	decide := w.ForNamespace("tenant")
	for _, tc := range cases {
		reason, message, detail := decide(netip.MustParseAddr(tc.addr))
		if reason != tc.reason || message != tc.message {
			t.Errorf("%s: %q %q, want %q %q", tc.addr, reason, message, tc.reason, tc.message)
		}
		if x := revealed(message); x != "" {
			t.Errorf("%s: the tenant's message %q reveals %q", tc.addr, message, x)
		}
		if !strings.Contains(detail, tc.detail) {
			t.Errorf("%s: the admin's detail %q does not say %q", tc.addr, detail, tc.detail)
		}
	}

	// A policy for some other namespace: tenant is allowed nothing, and
	// learns nothing finer than that.
	if _, err := mydemos.CrddemoV1().AddressPolicies().Create(ctx, &crddemov1.AddressPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "others"},
		Spec: crddemov1.AddressPolicySpec{
			NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"team": "other"}},
			CIDRs:             []string{"0.0.0.0/0", "::/0"},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the policy in the snapshot", func() bool {
		reason, _ := w.Refusal("tenant", netip.MustParseAddr("198.51.100.1"))
		return reason == ReasonNotAllowedByPolicy
	})
	decide = w.ForNamespace("tenant")
	for _, tc := range append(cases, struct{ addr, reason, message, detail string }{addr: "198.51.100.1"}) {
		reason, message, _ := decide(netip.MustParseAddr(tc.addr))
		if reason != ReasonNotAllowedByPolicy || message != msgNotAllowedByPolicy {
			t.Errorf("%s in a namespace no policy selects: %q %q, want only %q %q", tc.addr, reason, message, ReasonNotAllowedByPolicy, msgNotAllowedByPolicy)
		}
	}
}
