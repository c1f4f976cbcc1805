package integration

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/test/framework"
)

// No controller runs in these tests: the addresses in them are never
// dialled, so documentation ranges stand for the outside world.

// Labels of the test namespaces that AddressPolicies select by.
const (
	teamLabel = "crddemo.k8s.io/test-team"
	tierLabel = "crddemo.k8s.io/test-tier"
)

// TestAdmissionAddressPolicy: deploy/admission-address-policy.yaml refuses,
// for a tenant bound to mydemo-edit, a literal address outside the cidrs of
// an AddressPolicy that selects the namespace, naming the field, the
// namespace and the policy; it admits allowed addresses of both families,
// hostnames, namespaces no policy selects, and everything once no policy
// exists; the namespaceSelector means what a label selector means.
func TestAdmissionAddressPolicy(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	unselected := framework.CreateNamespace(t, e.kube)
	labelNamespace(t, e.kube, e.ns, map[string]string{teamLabel: e.ns, tierLabel: "gold"})

	applyDeploy(t, "user-roles.yaml")
	tenant := newUser(t, "tenant-"+e.ns)
	tenant.bind(t, e.kube, e.ns, "mydemo-edit", mydemoAttr(e.ns, "create"))
	tenant.bind(t, e.kube, unselected, "mydemo-edit", mydemoAttr(unselected, "create"))

	policies := e.client.CrddemoV1().AddressPolicies()
	if list, err := policies.List(ctx, metav1.ListOptions{}); err != nil || len(list.Items) != 0 {
		t.Fatalf("AddressPolicies exist before the test: %v %v", list, err)
	}
	// With no AddressPolicy the policy has no parameter and admits, so
	// "in force" is seen once the first AddressPolicy exists (below).
	installPolicies(t, func() (bool, string) {
		return denied(tenant.dryRunMydemo(e.ns, unprobed("10.96.0.10", 80)), "a Service range of the cluster")
	}, "admission-address-policy.yaml", "admission-cluster-networks.yaml")
	if err := tenant.dryRunMydemo(e.ns, unprobed("203.0.113.9", 80)); err != nil {
		t.Fatalf("no AddressPolicy exists, yet an address outside the cluster networks is refused: %v", err)
	}

	egress := "team-a-egress-" + e.ns
	createAddressPolicy(t, e, egress, metav1.LabelSelector{MatchLabels: map[string]string{teamLabel: e.ns}}, "198.51.100.0/24", "2001:db8:1::/48")
	outside := endpoints("198.51.100.9", "db.example.com", "203.0.113.9")
	wantMsg := fmt.Sprintf("spec.endpoints[2].ip: 203.0.113.9 is not allowed in namespace %s by AddressPolicy %s (allowed: 198.51.100.0/24, 2001:db8:1::/48)", e.ns, egress)
	e.eventually(converge, "the AddressPolicy in force", func() (bool, string) {
		return denied(tenant.dryRunMydemo(e.ns, outside), wantMsg)
	})

	// Real creates, as the tenant.
	create := func(name string, spec crddemov1.MydemoSpec) error {
		_, err := tenant.client.CrddemoV1().Mydemos(e.ns).Create(ctx, &crddemov1.Mydemo{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       spec,
		}, metav1.CreateOptions{})
		return err
	}
	for name, spec := range map[string]crddemov1.MydemoSpec{
		"single":    unprobed("198.51.100.7", 80),
		"both":      endpoints("198.51.100.8", "2001:db8:1::8", "db.example.com"),
		"hostnames": endpoints("db.example.com", "replica.example.net"),
	} {
		if err := create(name, spec); err != nil {
			t.Errorf("%s: allowed addresses refused: %v", name, err)
		}
	}
	err := create("outside", outside)
	if ok, why := denied(err, wantMsg); !ok || !apierrors.IsForbidden(err) {
		t.Errorf("an address outside the policy: want 403 %q, got %s", wantMsg, why)
	}
	if ok, why := denied(create("v6", unprobed("2001:db8:2::1", 80)), "spec.ip: 2001:db8:2::1 is not allowed in namespace "+e.ns+" by AddressPolicy "+egress); !ok {
		t.Errorf("an IPv6 address outside the policy: %s", why)
	}
	if ok, why := denied(create("many", endpoints("203.0.113.1", "203.0.113.2", "203.0.113.3")), "spec.endpoints[0].ip: 203.0.113.1 is not allowed"); !ok || !strings.Contains(why, "(and 2 more)") {
		t.Errorf("three refused addresses: %s", why)
	}

	// Updates are checked as creates are.
	md, err := tenant.client.CrddemoV1().Mydemos(e.ns).Get(ctx, "single", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	md.Spec.IP = "203.0.113.9"
	_, err = tenant.client.CrddemoV1().Mydemos(e.ns).Update(ctx, md, metav1.UpdateOptions{})
	if ok, why := denied(err, "spec.ip: 203.0.113.9 is not allowed"); !ok {
		t.Errorf("update to an address outside the policy: %s", why)
	}

	// A namespace no AddressPolicy selects: admission has nothing to say
	// (each evaluation sees one policy), the controller refuses.
	if err := tenant.dryRunMydemo(unselected, unprobed("203.0.113.9", 80)); err != nil {
		t.Errorf("namespace selected by no AddressPolicy: want admitted (left to the controller), got %v", err)
	}

	// The cost of the largest Mydemo against the largest AddressPolicy:
	// 1000 endpoints, 64 cidrs, the matching one last.
	wide := make([]string, 0, 64)
	for i := range 63 {
		wide = append(wide, fmt.Sprintf("10.%d.0.0/16", 100+i))
	}
	wide = append(wide, "2001:db8:1::/48")
	createAddressPolicy(t, e, "wide-"+e.ns, metav1.LabelSelector{MatchLabels: map[string]string{teamLabel: e.ns}}, wide...)
	var addrs []string
	a := netip.MustParseAddr("2001:db8:1::1")
	for range 1000 {
		addrs = append(addrs, a.String())
		a = a.Next()
	}
	last := "2001:db8:1::3e8"
	if addrs[999] != last {
		t.Fatalf("address %d is %s", 999, addrs[999])
	}
	outsideWide := slices.Clone(addrs)
	outsideWide[999] = "198.51.100.250" // allowed by team-a-egress, not by wide
	e.eventually(converge, "the second AddressPolicy in force", func() (bool, string) {
		return denied(tenant.dryRunMydemo(e.ns, endpoints(outsideWide...)), "spec.endpoints[999].ip: 198.51.100.250 is not allowed in namespace "+e.ns+" by AddressPolicy wide-"+e.ns)
	})
	if err := tenant.dryRunMydemo(e.ns, endpoints(addrs...)); err != nil {
		t.Errorf("1000 allowed endpoints against 64 cidrs refused: %v", err)
	}

	// Overlap: with two policies selecting the namespace, admission
	// requires every one of them to allow the address (documented in
	// deploy/README.md); the refusal names the policy that refused.
	if ok, why := denied(tenant.dryRunMydemo(e.ns, unprobed("198.51.100.7", 80)), "by AddressPolicy wide-"+e.ns); !ok {
		t.Errorf("overlapping policies: want the stricter refusal naming wide-%s, got %s", e.ns, why)
	}
	if err := policies.Delete(ctx, "wide-"+e.ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.eventually(converge, "the second AddressPolicy gone", func() (bool, string) {
		err := tenant.dryRunMydemo(e.ns, unprobed("198.51.100.7", 80))
		return err == nil, fmt.Sprint(err)
	})

	// An update that leaves the spec alone is never refused, even when the
	// addresses are no longer allowed (labels, finalizers, deletion).
	tighten, err := policies.Get(ctx, egress, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tighten.Spec.CIDRs = []string{"2001:db8:1::/48"}
	if _, err := policies.Update(ctx, tighten, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.eventually(converge, "the tightened AddressPolicy in force", func() (bool, string) {
		return denied(tenant.dryRunMydemo(e.ns, unprobed("198.51.100.7", 80)), "(allowed: 2001:db8:1::/48)")
	})
	patch := []byte(`{"metadata":{"labels":{"touched":"yes"}}}`)
	if _, err := tenant.client.CrddemoV1().Mydemos(e.ns).Patch(ctx, "single", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Errorf("a label change of a Mydemo whose address the policy no longer allows: %v", err)
	}
	patch = []byte(`{"spec":{"port":81}}`)
	_, err = tenant.client.CrddemoV1().Mydemos(e.ns).Patch(ctx, "single", types.MergePatchType, patch, metav1.PatchOptions{})
	if ok, why := denied(err, "spec.ip: 198.51.100.7 is not allowed"); !ok {
		t.Errorf("a spec change keeps a refused address: %s", why)
	}

	// The namespaceSelector, case by case. Each case changes the verdict
	// of the one before, so a policy update not yet seen cannot pass for
	// the expected result. 198.51.100.7 is outside the selector policy's
	// range: refused exactly when it selects the namespace.
	if err := policies.Delete(ctx, egress, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	sel := "selector-" + e.ns
	createAddressPolicy(t, e, sel, metav1.LabelSelector{MatchLabels: map[string]string{teamLabel: "someone-else"}}, "192.0.2.0/24")
	req := func(key string, op metav1.LabelSelectorOperator, values ...string) metav1.LabelSelectorRequirement {
		return metav1.LabelSelectorRequirement{Key: key, Operator: op, Values: values}
	}
	for i, tc := range []struct {
		name    string
		sel     metav1.LabelSelector
		selects bool
	}{
		{"matchLabels equal", metav1.LabelSelector{MatchLabels: map[string]string{teamLabel: e.ns}}, true},
		{"matchLabels other value", metav1.LabelSelector{MatchLabels: map[string]string{teamLabel: "x"}}, false},
		{"In with the value", metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{req(teamLabel, metav1.LabelSelectorOpIn, "x", e.ns)}}, true},
		{"In without it", metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{req(teamLabel, metav1.LabelSelectorOpIn, "x")}}, false},
		{"NotIn without it", metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{req(teamLabel, metav1.LabelSelectorOpNotIn, "x")}}, true},
		{"NotIn with it", metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{req(teamLabel, metav1.LabelSelectorOpNotIn, e.ns)}}, false},
		{"NotIn of an absent key", metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{req("crddemo.k8s.io/absent", metav1.LabelSelectorOpNotIn, "x")}}, true},
		{"Exists of an absent key", metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{req("crddemo.k8s.io/absent", metav1.LabelSelectorOpExists)}}, false},
		{"Exists", metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{req(tierLabel, metav1.LabelSelectorOpExists)}}, true},
		{"DoesNotExist of a present key", metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{req(tierLabel, metav1.LabelSelectorOpDoesNotExist)}}, false},
		{"DoesNotExist", metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{req("crddemo.k8s.io/absent", metav1.LabelSelectorOpDoesNotExist)}}, true},
		{"matchLabels and a failing expression", metav1.LabelSelector{
			MatchLabels:      map[string]string{teamLabel: e.ns},
			MatchExpressions: []metav1.LabelSelectorRequirement{req(tierLabel, metav1.LabelSelectorOpIn, "silver")},
		}, false},
		{"matchLabels and expressions all holding", metav1.LabelSelector{
			MatchLabels:      map[string]string{teamLabel: e.ns},
			MatchExpressions: []metav1.LabelSelectorRequirement{req(tierLabel, metav1.LabelSelectorOpIn, "gold"), req("crddemo.k8s.io/absent", metav1.LabelSelectorOpDoesNotExist)},
		}, true},
		{"empty selects every namespace", metav1.LabelSelector{}, true},
	} {
		p, err := policies.Get(ctx, sel, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Spec.NamespaceSelector = tc.sel
		if _, err := policies.Update(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		framework.Eventually(t, converge, fmt.Sprintf("case %d %q: selects=%v", i, tc.name, tc.selects), func() (bool, string) {
			err := tenant.dryRunMydemo(e.ns, unprobed("198.51.100.7", 80))
			if tc.selects {
				return denied(err, "by AddressPolicy "+sel+" (allowed: 192.0.2.0/24)")
			}
			return err == nil, fmt.Sprint(err)
		})
	}

	// No AddressPolicy left: everything outside the cluster networks
	// passes again.
	if err := policies.Delete(ctx, sel, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.eventually(converge, "no AddressPolicy in force", func() (bool, string) {
		err := tenant.dryRunMydemo(e.ns, unprobed("203.0.113.9", 80))
		return err == nil, fmt.Sprint(err)
	})
}

// TestAdmissionClusterNetworks: deploy/admission-cluster-networks.yaml
// refuses a tenant's literal address inside a ServiceCIDR (the default one,
// kubernetes) or at a cloud metadata address, naming the field; other
// addresses and hostnames pass while no AddressPolicy exists.
func TestAdmissionClusterNetworks(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	applyDeploy(t, "user-roles.yaml")
	tenant := newUser(t, "tenant-"+e.ns)
	tenant.bind(t, e.kube, e.ns, "mydemo-edit", mydemoAttr(e.ns, "create"))

	cidr, err := e.kube.NetworkingV1().ServiceCIDRs().Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the default ServiceCIDR: %v", err)
	}
	if !slices.Contains(cidr.Spec.CIDRs, "10.96.0.0/16") {
		t.Fatalf("ServiceCIDR kubernetes has %v, want the framework's 10.96.0.0/16", cidr.Spec.CIDRs)
	}
	if list, err := e.client.CrddemoV1().AddressPolicies().List(ctx, metav1.ListOptions{}); err != nil || len(list.Items) != 0 {
		t.Fatalf("AddressPolicies exist before the test: %v %v", list, err)
	}
	installPolicies(t, func() (bool, string) {
		if ok, why := denied(tenant.dryRunMydemo(e.ns, unprobed("10.96.0.10", 80)), "a Service range of the cluster"); !ok {
			return false, why
		}
		return denied(tenant.dryRunMydemo(e.ns, unprobed("fd00:ec2::254", 80)), "cloud metadata")
	}, "admission-cluster-networks.yaml")

	for _, tc := range []struct {
		spec crddemov1.MydemoSpec
		want string // empty: admitted
	}{
		// The field and the address, never the range nor the ServiceCIDR.
		{unprobed("10.96.0.10", 80), "spec.ip: 10.96.0.10 is inside a Service range of the cluster; cluster networks cannot be published"},
		{endpoints("203.0.113.9", "db.example.com", "10.96.255.254"), "spec.endpoints[2].ip: 10.96.255.254 is inside a Service range of the cluster"},
		{endpoints("2001:db8::1", "fd00:ec2::254"), "spec.endpoints[1].ip: fd00:ec2::254 is a cloud metadata address and cannot be published"},
		{unprobed("100.100.100.200", 80), "spec.ip: 100.100.100.200 is a cloud metadata address"},
		// Link-local, refused by the CRD before admission runs.
		{unprobed("169.254.169.254", 80), "link-local"},
		{unprobed("10.97.0.1", 80), ""},
		{unprobed("10.95.255.255", 80), ""},
		{unprobed("fd00:ec2::253", 80), ""},
		{endpoints("203.0.113.9", "2001:db8::1", "db.example.com"), ""},
		{endpoints("metadata.example.com"), ""},
	} {
		_, err := tenant.client.CrddemoV1().Mydemos(e.ns).Create(ctx, &crddemov1.Mydemo{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "net-"},
			Spec:       tc.spec,
		}, metav1.CreateOptions{})
		if tc.want == "" {
			if err != nil {
				t.Errorf("%+v: want admitted, got %v", tc.spec, err)
			}
			continue
		}
		if ok, why := denied(err, tc.want); !ok {
			t.Errorf("%+v: want refused with %q, got %s", tc.spec, tc.want, why)
		}
	}
}

// TestAdmissionControllerRestraint: deploy/admission-controller-restraint.yaml
// keeps the controller's own ServiceAccount (with deploy/'s ClusterRole) off
// every Service and EndpointSlice not labelled as managed by it, on create,
// update (old and new object) and delete; other users are not matched.
func TestAdmissionControllerRestraint(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ctl := controllerIdentity(t)

	foreignSvc := selectorlessService("foreign", nil)
	if _, err := e.kube.CoreV1().Services(e.ns).Create(ctx, foreignSvc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	foreignSlice := endpointSlice("foreign-1", nil, "203.0.113.9")
	if _, err := e.kube.DiscoveryV1().EndpointSlices(e.ns).Create(ctx, foreignSlice, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	touchForeign := func(c kubernetes.Interface, dryRun bool) error {
		svc, err := c.CoreV1().Services(e.ns).Get(ctx, "foreign", metav1.GetOptions{})
		if err != nil {
			return err
		}
		svc.Annotations = map[string]string{"touched": "yes"}
		opts := metav1.UpdateOptions{}
		if dryRun {
			opts.DryRun = []string{metav1.DryRunAll}
		}
		_, err = c.CoreV1().Services(e.ns).Update(ctx, svc, opts)
		return err
	}
	const restrained = "the Mydemo controller may only write objects labelled app.kubernetes.io/managed-by=crddemo-controller"
	installPolicies(t, func() (bool, string) {
		return denied(touchForeign(ctl.kube, true), restrained)
	}, "admission-controller-restraint.yaml")

	check := func(what string, err error, want string) {
		t.Helper()
		if want == "" {
			if err != nil {
				t.Errorf("%s: want allowed, got %v", what, err)
			}
			return
		}
		if ok, why := denied(err, want); !ok || !apierrors.IsForbidden(err) {
			t.Errorf("%s: want 403 %q, got %s", what, want, why)
		}
	}
	svcs, slicesAPI := ctl.kube.CoreV1().Services(e.ns), ctl.kube.DiscoveryV1().EndpointSlices(e.ns)

	check("update of a foreign Service", touchForeign(ctl.kube, false), restrained+": Service "+e.ns+"/foreign is not labelled so")
	check("delete of a foreign Service", svcs.Delete(ctx, "foreign", metav1.DeleteOptions{}), restrained)
	_, err := svcs.Create(ctx, selectorlessService("unlabelled", nil), metav1.CreateOptions{})
	check("create of an unlabelled Service", err, restrained)
	foreign, err := svcs.Get(ctx, "foreign", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	foreign.Labels = managedLabels("foreign")
	_, err = svcs.Update(ctx, foreign, metav1.UpdateOptions{})
	check("labelling a foreign Service as its own", err, restrained)

	mine, err := svcs.Create(ctx, selectorlessService("mine", managedLabels("mine")), metav1.CreateOptions{})
	check("create of a managed Service", err, "")
	if err == nil {
		mine.Annotations = map[string]string{"touched": "yes"}
		mine, err = svcs.Update(ctx, mine, metav1.UpdateOptions{})
		check("update of a managed Service", err, "")
	}
	if err == nil {
		mine.Labels = map[string]string{"crddemo.k8s.io/mydemo": "mine"}
		_, err = svcs.Update(ctx, mine, metav1.UpdateOptions{})
		check("removing the label", err, restrained+": Service "+e.ns+"/mine would lose the label")
	}
	check("delete of a managed Service", svcs.Delete(ctx, "mine", metav1.DeleteOptions{}), "")

	_, err = slicesAPI.Create(ctx, endpointSlice("unlabelled-1", nil, "198.51.100.7"), metav1.CreateOptions{})
	check("create of an unlabelled EndpointSlice", err, restrained+": EndpointSlice "+e.ns+"/unlabelled-1 is not labelled so")
	slice, err := slicesAPI.Get(ctx, "foreign-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	slice.Endpoints[0].Addresses = []string{"198.51.100.7"}
	_, err = slicesAPI.Update(ctx, slice, metav1.UpdateOptions{})
	check("update of a foreign EndpointSlice", err, restrained)
	check("delete of a foreign EndpointSlice", slicesAPI.Delete(ctx, "foreign-1", metav1.DeleteOptions{}), restrained)
	_, err = slicesAPI.Create(ctx, endpointSlice("mine-ipv4", managedLabels("mine"), "198.51.100.7"), metav1.CreateOptions{})
	check("create of a managed EndpointSlice", err, "")
	check("delete of a managed EndpointSlice", slicesAPI.Delete(ctx, "mine-ipv4", metav1.DeleteOptions{}), "")

	// Anyone else is not matched by this policy.
	check("update of the foreign Service by an admin", touchForeign(e.kube, false), "")
}

// TestAdmissionChildrenGuard: deploy/admission-children-guard.yaml refuses
// updates and deletes of a Mydemo's Service and EndpointSlice by anyone but
// the controller and the garbage collector, naming the Mydemo; a cluster
// admin may delete them, status writes and objects no Mydemo controls are
// not matched.
func TestAdmissionChildrenGuard(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ctl := controllerIdentity(t)

	// The children as the controller would have written them; no
	// controller runs.
	md := e.createMydemo("payments", unprobed("198.51.100.7", 80))
	owner := []metav1.OwnerReference{{
		APIVersion: crddemov1.SchemeGroupVersion.String(), Kind: "Mydemo", Name: md.Name, UID: md.UID,
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
	}}
	for _, name := range []string{"payments", "canary"} {
		svc := selectorlessService(name, managedLabels("payments"))
		svc.OwnerReferences = owner
		if _, err := e.kube.CoreV1().Services(e.ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	slice := endpointSlice("payments-ipv4", managedLabels("payments"), "198.51.100.7")
	slice.OwnerReferences = owner
	if _, err := e.kube.DiscoveryV1().EndpointSlices(e.ns).Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Owned by the Mydemo, but not as its controller: not guarded.
	loose := selectorlessService("loose", nil)
	loose.OwnerReferences = []metav1.OwnerReference{owner[0]}
	loose.OwnerReferences[0].Controller = nil
	if _, err := e.kube.CoreV1().Services(e.ns).Create(ctx, loose, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.kube.CoreV1().Services(e.ns).Create(ctx, selectorlessService("plain", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	guarded := func(kind, name string) string {
		return fmt.Sprintf("%s %s is controlled by Mydemo %s/payments (crddemo.k8s.io); it is rewritten by the controller. Delete or rename the Mydemo, or use another name", kind, name, e.ns)
	}
	installPolicies(t, func() (bool, string) {
		return denied(e.annotate(e.kube, "Service", "canary", true), guarded("Service", "canary"))
	}, "admission-children-guard.yaml")

	check := func(what string, err error, want string) {
		t.Helper()
		if want == "" {
			if err != nil {
				t.Errorf("%s: want allowed, got %v", what, err)
			}
			return
		}
		if ok, why := denied(err, want); !ok || !apierrors.IsForbidden(err) {
			t.Errorf("%s: want 403 %q, got %s", what, want, why)
		}
	}

	// A tenant with the built-in edit role in the namespace (whose rules
	// the aggregation controller fills in).
	startAggregationController(t)
	tenant := newUser(t, "tenant-"+e.ns)
	tenant.bind(t, e.kube, e.ns, "edit",
		authorizationv1.ResourceAttributes{Namespace: e.ns, Verb: "update", Resource: "services"},
		authorizationv1.ResourceAttributes{Namespace: e.ns, Verb: "get", Resource: "services"},
		authorizationv1.ResourceAttributes{Namespace: e.ns, Verb: "delete", Resource: "services"})
	check("tenant update", e.annotate(tenant.kube, "Service", "payments", false), guarded("Service", "payments"))
	svc, err := tenant.kube.CoreV1().Services(e.ns).Get(ctx, "payments", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Spec.Selector = map[string]string{"app": "mine"}
	_, err = tenant.kube.CoreV1().Services(e.ns).Update(ctx, svc, metav1.UpdateOptions{})
	check("tenant adding a selector", err, guarded("Service", "payments"))
	check("tenant delete", tenant.kube.CoreV1().Services(e.ns).Delete(ctx, "payments", metav1.DeleteOptions{}), guarded("Service", "payments"))
	check("tenant update of a Service no Mydemo controls", e.annotate(tenant.kube, "Service", "plain", false), "")
	check("tenant update of a Service a Mydemo owns but does not control", e.annotate(tenant.kube, "Service", "loose", false), "")

	// A cluster admin may delete but not rewrite.
	check("admin update of the EndpointSlice", e.annotate(e.kube, "EndpointSlice", "payments-ipv4", false), guarded("EndpointSlice", "payments-ipv4"))
	check("admin update of the Service", e.annotate(e.kube, "Service", "payments", false), guarded("Service", "payments"))
	// Status is not matched.
	svc, err = e.kube.CoreV1().Services(e.ns).Get(ctx, "payments", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Status.Conditions = []metav1.Condition{{Type: "Example", Status: metav1.ConditionTrue, Reason: "Test", LastTransitionTime: metav1.Now()}}
	_, err = e.kube.CoreV1().Services(e.ns).UpdateStatus(ctx, svc, metav1.UpdateOptions{})
	check("admin status update", err, "")

	// The controller, and the garbage collector under each of its names.
	// The controller updates (its ClusterRole has no patch).
	svc, err = ctl.kube.CoreV1().Services(e.ns).Get(ctx, "payments", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Annotations = map[string]string{"example.com/touched": "by the controller"}
	_, err = ctl.kube.CoreV1().Services(e.ns).Update(ctx, svc, metav1.UpdateOptions{})
	check("controller update", err, "")
	kcm := newUser(t, "system:kube-controller-manager", "system:masters")
	check("kube-controller-manager update", e.annotate(kcm.kube, "EndpointSlice", "payments-ipv4", false), "")
	gc := garbageCollectorIdentity(t)
	// Orphaning: the garbage collector takes the ownerReferences away.
	_, err = gc.kube.DiscoveryV1().EndpointSlices(e.ns).Patch(ctx, "payments-ipv4", types.MergePatchType,
		[]byte(`{"metadata":{"ownerReferences":null}}`), metav1.PatchOptions{})
	check("garbage collector removing the ownerReferences", err, "")
	check("admin update of the orphaned EndpointSlice", e.annotate(e.kube, "EndpointSlice", "payments-ipv4", false), "")

	// Delete by someone who may delete AddressPolicies, and by
	// system:masters.
	policyAdmin := newUser(t, "policy-admin-"+e.ns)
	applyDeploy(t, "user-roles.yaml")
	policyAdmin.bind(t, e.kube, "", "mydemo-policy-admin", authorizationv1.ResourceAttributes{Verb: "delete", Group: crddemov1.SchemeGroupVersion.Group, Resource: "addresspolicies"})
	policyAdmin.bind(t, e.kube, e.ns, "edit", authorizationv1.ResourceAttributes{Namespace: e.ns, Verb: "delete", Resource: "services"})
	check("policy admin delete", policyAdmin.kube.CoreV1().Services(e.ns).Delete(ctx, "payments", metav1.DeleteOptions{}), "")
	check("system:masters delete", e.kube.CoreV1().Services(e.ns).Delete(ctx, "loose", metav1.DeleteOptions{}), "")
}

// TestRBACAggregation: deploy/user-roles.yaml's mydemo-view and
// mydemo-edit reach the built-in view, edit and admin roles; the
// AddressPolicy role reaches none of them.
func TestRBACAggregation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	startAggregationController(t)
	e.eventually(converge, "no Mydemo rules in the built-in roles before the test", func() (bool, string) {
		ok, why := aggregatedMydemos(e.kube, "view", "edit", "admin")
		return !ok, why
	})
	applyDeploy(t, "user-roles.yaml")

	viewer := newUser(t, "viewer-"+e.ns)
	viewer.bind(t, e.kube, e.ns, "view", authorizationv1.ResourceAttributes{Namespace: e.ns, Verb: "list", Resource: "configmaps"})
	editor := newUser(t, "editor-"+e.ns)
	editor.bind(t, e.kube, e.ns, "edit", authorizationv1.ResourceAttributes{Namespace: e.ns, Verb: "update", Resource: "services"})
	nsAdmin := newUser(t, "admin-"+e.ns)
	nsAdmin.bind(t, e.kube, e.ns, "admin", authorizationv1.ResourceAttributes{Namespace: e.ns, Verb: "create", Group: rbacGroup, Resource: "rolebindings"})
	// Cluster-wide admin (not cluster-admin) still has no AddressPolicy
	// access.
	clusterAdmin := newUser(t, "cluster-wide-admin-"+e.ns)
	clusterAdmin.bind(t, e.kube, "", "admin", authorizationv1.ResourceAttributes{Verb: "list", Resource: "configmaps"})

	e.eventually(converge, "mydemo-view aggregated into view", func() (bool, string) {
		_, err := viewer.client.CrddemoV1().Mydemos(e.ns).List(ctx, metav1.ListOptions{})
		return err == nil, fmt.Sprint(err)
	})
	for _, verb := range []string{"get", "watch"} {
		if ok, why := viewer.can(mydemoAttr(e.ns, verb)); !ok {
			t.Errorf("view: %s", why)
		}
	}
	if ok, why := viewer.can(mydemoAttr(e.ns, "create")); ok {
		t.Errorf("view may write Mydemos: %s", why)
	}
	e.eventually(converge, "mydemo-edit aggregated into edit", func() (bool, string) {
		return editor.can(mydemoAttr(e.ns, "create"))
	})
	if _, err := editor.client.CrddemoV1().Mydemos(e.ns).Create(ctx, &crddemov1.Mydemo{
		ObjectMeta: metav1.ObjectMeta{Name: "edited"},
		Spec:       unprobed("198.51.100.7", 80),
	}, metav1.CreateOptions{}); err != nil {
		t.Errorf("edit cannot create a Mydemo: %v", err)
	}
	for _, u := range []*user{editor, nsAdmin} {
		for _, verb := range []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"} {
			framework.Eventually(t, converge, u.name+" "+verb+" mydemos", func() (bool, string) {
				return u.can(mydemoAttr(e.ns, verb))
			})
		}
		if ok, why := u.can(authorizationv1.ResourceAttributes{Namespace: e.ns, Verb: "update", Group: crddemov1.SchemeGroupVersion.Group, Resource: "mydemos", Subresource: "status"}); ok {
			t.Errorf("%s may write Mydemo status, which is the controller's: %s", u.name, why)
		}
	}
	for _, u := range []*user{viewer, editor, nsAdmin, clusterAdmin} {
		for _, verb := range []string{"list", "create", "delete"} {
			if ok, why := u.can(authorizationv1.ResourceAttributes{Verb: verb, Group: crddemov1.SchemeGroupVersion.Group, Resource: "addresspolicies"}); ok {
				t.Errorf("%s has AddressPolicy access through an aggregated role: %s", u.name, why)
			}
		}
	}
	_, err := clusterAdmin.client.CrddemoV1().AddressPolicies().Create(ctx, &crddemov1.AddressPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "not-allowed-" + e.ns},
		Spec:       crddemov1.AddressPolicySpec{CIDRs: []string{"192.0.2.0/24"}},
	}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if !apierrors.IsForbidden(err) {
		t.Errorf("a cluster-wide admin creating an AddressPolicy: want 403, got %v", err)
	}
}

// TestRBACControllerRole: deploy/clusterrole.yaml lets the controller list
// and watch what the address rules are made of, and no more than that on
// those resources.
func TestRBACControllerRole(t *testing.T) {
	ctl := controllerIdentity(t)
	ctx := context.Background()
	for _, r := range []struct{ group, resource, ns string }{
		{"", "nodes", ""},
		{"", "namespaces", ""},
		{"networking.k8s.io", "servicecidrs", ""},
		{crddemov1.SchemeGroupVersion.Group, "addresspolicies", ""},
		{"discovery.k8s.io", "endpointslices", "default"},
	} {
		for _, verb := range []string{"list", "watch"} {
			if ok, why := ctl.can(authorizationv1.ResourceAttributes{Verb: verb, Group: r.group, Resource: r.resource, Namespace: r.ns}); !ok {
				t.Errorf("controller: %s", why)
			}
		}
		if r.resource == "endpointslices" {
			continue
		}
		for _, verb := range []string{"get", "create", "update", "patch", "delete"} {
			if ok, why := ctl.can(authorizationv1.ResourceAttributes{Verb: verb, Group: r.group, Resource: r.resource}); ok {
				t.Errorf("controller may do more than list and watch: %s", why)
			}
		}
	}
	// And for real: the lists the controller's informers send.
	if _, err := ctl.kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{Limit: 1}); err != nil {
		t.Errorf("list nodes: %v", err)
	}
	if _, err := ctl.kube.NetworkingV1().ServiceCIDRs().List(ctx, metav1.ListOptions{Limit: 1}); err != nil {
		t.Errorf("list servicecidrs: %v", err)
	}
	if _, err := ctl.client.CrddemoV1().AddressPolicies().List(ctx, metav1.ListOptions{Limit: 1}); err != nil {
		t.Errorf("list addresspolicies: %v", err)
	}
	if _, err := ctl.kube.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=kubernetes"}); err != nil {
		t.Errorf("list the kubernetes Service's EndpointSlices: %v", err)
	}
}

const rbacGroup = "rbac.authorization.k8s.io"

// labelNamespace adds labels to a namespace.
func labelNamespace(t *testing.T, kube kubernetes.Interface, ns string, labels map[string]string) {
	t.Helper()
	n, err := kube.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n.Labels == nil {
		n.Labels = map[string]string{}
	}
	for k, v := range labels {
		n.Labels[k] = v
	}
	if _, err := kube.CoreV1().Namespaces().Update(context.Background(), n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// createAddressPolicy creates a cluster-scoped AddressPolicy and deletes it
// when the test ends.
func createAddressPolicy(t *testing.T, e *env, name string, sel metav1.LabelSelector, cidrs ...string) {
	t.Helper()
	policies := e.client.CrddemoV1().AddressPolicies()
	_, err := policies.Create(context.Background(), &crddemov1.AddressPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       crddemov1.AddressPolicySpec{NamespaceSelector: sel, CIDRs: cidrs},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		err := policies.Delete(context.Background(), name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete AddressPolicy %s: %v", name, err)
		}
	})
}

// managedLabels are the labels the controller puts on its children.
func managedLabels(mydemo string) map[string]string {
	return map[string]string{"app.kubernetes.io/managed-by": "crddemo-controller", "crddemo.k8s.io/mydemo": mydemo}
}

func selectorlessService(name string, labels map[string]string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}},
	}
}

func endpointSlice(name string, labels map[string]string, addr string) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Labels: labels},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{addr}}},
		Ports:       []discoveryv1.EndpointPort{{Port: ptr.To[int32](80), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
}

// garbageCollectorIdentity authenticates as the garbage collector's own
// ServiceAccount (kube-controller-manager --use-service-account-credentials),
// whose permissions the API server's bootstrap policy grants.
func garbageCollectorIdentity(t *testing.T) *user {
	t.Helper()
	cp := framework.Get()
	ctx := context.Background()
	const name = "generic-garbage-collector"
	sas := kubernetes.NewForConfigOrDie(cp.Config).CoreV1().ServiceAccounts(metav1.NamespaceSystem)
	if _, err := sas.Get(ctx, name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		// Created below, so removed again.
		t.Cleanup(func() { _ = sas.Delete(context.Background(), name, metav1.DeleteOptions{}) })
	}
	cfg, err := cp.ServiceAccountConfig(ctx, metav1.NamespaceSystem, name)
	if err != nil {
		t.Fatal(err)
	}
	u := clientsFor("system:serviceaccount:kube-system:generic-garbage-collector", cfg)
	framework.Eventually(t, converge, "the garbage collector's bootstrap role", func() (bool, string) {
		return u.can(authorizationv1.ResourceAttributes{Verb: "patch", Group: "discovery.k8s.io", Resource: "endpointslices", Namespace: "default"})
	})
	return u
}
