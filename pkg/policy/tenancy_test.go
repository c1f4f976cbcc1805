package policy

// Attempts to publish what the cluster's networks or a policy refuse.

import (
	"context"
	"net/netip"
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
