package integration

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/controller"
	"github.com/crddemo/crddemo/pkg/generated/clientset/versioned"
	"github.com/crddemo/crddemo/pkg/operator"
	"github.com/crddemo/crddemo/pkg/policy"
	"github.com/crddemo/crddemo/test/dnsserver"
	"github.com/crddemo/crddemo/test/framework"
	"github.com/crddemo/crddemo/test/testhost"
)

// dialCounter is a listener inside a test host that counts the
// connections made to each of the host's addresses, so a test can prove
// the prober never sent a SYN to an address it refused.
type dialCounter struct {
	mu     sync.Mutex
	counts map[netip.Addr]int
}

func countDials(t *testing.T, h *testhost.Host, port int) *dialCounter {
	t.Helper()
	ln, err := h.Listen(port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	c := &dialCounter{counts: map[netip.Addr]int{}}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			if ap, err := netip.ParseAddrPort(conn.LocalAddr().String()); err == nil {
				c.mu.Lock()
				c.counts[ap.Addr()]++
				c.mu.Unlock()
			}
			conn.Close()
		}
	}()
	return c
}

func (c *dialCounter) count(a netip.Addr) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[a]
}

// tenantClient is the client of a user who may only create and read Mydemos in one namespace
// (and read its Events), as a namespace's developer would be.
func tenantClient(t *testing.T, e *env, user string) versioned.Interface {
	t.Helper()
	ctx := context.Background()
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "mydemo-author"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{crddemov1.SchemeGroupVersion.Group}, Resources: []string{"mydemos"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
			{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"get", "list", "watch"}},
		},
	}
	if _, err := e.kube.RbacV1().Roles(e.ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "mydemo-author-" + user},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	}
	if _, err := e.kube.RbacV1().RoleBindings(e.ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return versionedAs(t, user)
}

// createNode registers a Node object (no kubelet) with Pod CIDRs and an
// address, as a cluster's node controller and kubelet would, and deletes
// it at cleanup.
func createNode(t *testing.T, kube kubernetes.Interface, name string, podCIDR netip.Prefix, addr netip.Addr) {
	t.Helper()
	ctx := context.Background()
	node, err := kube.CoreV1().Nodes().Create(ctx, &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.NodeSpec{PodCIDR: podCIDR.String(), PodCIDRs: []string{podCIDR.String()}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := kube.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting Node %s: %v", name, err)
		}
	})
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: addr.String()}}
	if _, err := kube.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// publishAPIServerSlice creates the default/kubernetes EndpointSlice with
// addr, unless the API server publishes its own, and removes it at
// cleanup.
func publishAPIServerSlice(t *testing.T, kube kubernetes.Interface, addr netip.Addr) {
	t.Helper()
	ctx := context.Background()
	_, err := kube.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault).Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "kubernetes", Labels: map[string]string{discoveryv1.LabelServiceName: "kubernetes"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{addr.String()}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptrTo("https"), Port: ptrTo[int32](6443)}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("publishing the API server's EndpointSlice: %v", err)
	}
	t.Cleanup(func() {
		if err := kube.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault).Delete(context.Background(), "kubernetes", metav1.DeleteOptions{}); err != nil {
			t.Errorf("deleting EndpointSlice default/kubernetes: %v", err)
		}
	})
}

// endpointStatus finds addr in md's status.
func endpointStatus(md *crddemov1.Mydemo, addr netip.Addr) (crddemov1.EndpointStatus, bool) {
	for _, es := range md.Status.Endpoints {
		if es.Address == addr.String() {
			return es, true
		}
	}
	return crddemov1.EndpointStatus{}, false
}

// waitPublication waits until every address of refused is listed as not
// published (and not probed) with the given reason and every address of
// published is published, then checks the EndpointSlice.
func (e *env) waitPublication(name string, refused map[netip.Addr]string, published []netip.Addr, timeout time.Duration) *crddemov1.Mydemo {
	e.t.Helper()
	var md *crddemov1.Mydemo
	e.eventually(timeout, fmt.Sprintf("Mydemo %s to refuse %v and publish %v", name, refused, published), func() (bool, string) {
		var err error
		md, err = e.client.CrddemoV1().Mydemos(e.ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for a, reason := range refused {
			es, ok := endpointStatus(md, a)
			if !ok || es.Published || es.Reason != reason || es.Probe != crddemov1.ProbeNotProbed {
				return false, fmt.Sprintf("%s: %+v", a, es)
			}
		}
		for _, a := range published {
			if es, ok := endpointStatus(md, a); !ok || !es.Published {
				return false, fmt.Sprintf("%s: %+v", a, es)
			}
		}
		return true, ""
	})
	// The slices hold exactly the published addresses.
	slice, err := e.getSlice(name + "-ipv4")
	if err != nil {
		if len(published) > 0 {
			e.t.Fatalf("slice of %s: %v", name, err)
		}
		return md
	}
	var inSlice []string
	for _, ep := range slice.Endpoints {
		inSlice = append(inSlice, ep.Addresses...)
	}
	for a := range refused {
		if slices.Contains(inSlice, a.String()) {
			e.t.Errorf("refused address %s is in EndpointSlice %s", a, slice.Name)
		}
	}
	return md
}

// TestTenantCannotReachClusterNetworks: a tenant who may create Mydemos in
// one namespace only cannot publish, or have probed, a Service cluster IP,
// a Pod address, a Node's address or the API server's address; the
// Mydemo's other endpoints are published; the refusals are in status and
// in one Warning Event; and no packet reaches a refused address.
func TestTenantCannotReachClusterNetworks(t *testing.T) {
	ctx := context.Background()
	// An address inside the cluster's Service range (10.96.0.0/16) that
	// is served by a test host, so a probe there would be counted.
	svcHost, err := testhost.New(t.Context(), testhost.Options{Subnet: netip.MustParsePrefix("10.96.200.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svcHost.Close() })
	host := testhost.Require(t)
	svcDials := countDials(t, svcHost, 8080)
	dials := countDials(t, host, 8080)

	allowed := host.Addr(1)
	nodeAddr := host.Addr(2)
	podCIDR := netip.PrefixFrom(host.Addr(16), 28)
	podAddr := host.Addr(17)
	serviceIP := svcHost.Addr(5)

	e := newEnv(t)
	createNode(t, e.kube, "tenancy-"+e.ns, podCIDR, nodeAddr)
	// The API server's own endpoint. This control plane advertises a
	// loopback address and so publishes no default/kubernetes slice; the
	// test publishes one as a cluster's API server would, at an address
	// of the test host.
	apiServerAddr := host.Addr(3)
	publishAPIServerSlice(t, e.kube, apiServerAddr)
	dns := dnsserver.Start(t, "127.0.0.1")
	dns.Set("api.crddemo.test", apiServerAddr)

	tenant := tenantClient(t, e, "tenant-"+e.ns)
	e.startController(func(c *operator.Config) { c.DNSServer = dns.Addr })

	_, err = tenant.CrddemoV1().Mydemos(e.ns).Create(ctx, &crddemov1.Mydemo{
		ObjectMeta: metav1.ObjectMeta{Name: "probe-all"},
		Spec: crddemov1.MydemoSpec{
			Endpoints: []crddemov1.Endpoint{
				{IP: allowed.String()}, {IP: nodeAddr.String()}, {IP: podAddr.String()},
				{IP: serviceIP.String()}, {Hostname: "api.crddemo.test"},
			},
			Port:  8080,
			Probe: fastProbe,
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	refused := map[netip.Addr]string{nodeAddr: policy.ReasonClusterNetwork, podAddr: policy.ReasonClusterNetwork, serviceIP: policy.ReasonClusterNetwork, apiServerAddr: policy.ReasonClusterNetwork}
	md := e.waitPublication("probe-all", refused, []netip.Addr{allowed}, converge)
	for a := range refused {
		es, _ := endpointStatus(md, a)
		if !strings.HasPrefix(es.Message, "not published: ") {
			t.Errorf("%s: message %q does not say it is not published", a, es.Message)
		}
	}
	// Every refusal of the cluster's networks reads the same: it names
	// neither the Node, nor the range, nor what kind of object holds it,
	// which the tenant may not list.
	nodeMsg, _ := endpointStatus(md, nodeAddr)
	for a := range refused {
		es, _ := endpointStatus(md, a)
		if es.Message != nodeMsg.Message || strings.Contains(es.Message, "tenancy-") || strings.Contains(es.Message, "/") || strings.Contains(es.Message, "Node") {
			t.Errorf("refusal of %s: %q, want the one message of its reason (%q), naming nothing", a, es.Message, nodeMsg.Message)
		}
	}
	if es, _ := endpointStatus(md, apiServerAddr); es.Hostname != "api.crddemo.test" {
		t.Errorf("API server refusal: %+v", es)
	}
	e.waitEndpointsReady("probe-all", "1/5", probeLimit)
	ev := e.waitEvent("probe-all", corev1.EventTypeWarning, controller.ReasonAddressRefused, converge)
	if !strings.Contains(ev.Message, nodeAddr.String()) {
		t.Errorf("AddressRefused Event %q does not name %s", ev.Message, nodeAddr)
	}

	// Several probe periods: the allowed address is probed, the refused
	// ones never are.
	time.Sleep(4 * time.Second)
	if dials.count(allowed) == 0 {
		t.Errorf("the allowed address %s was never probed", allowed)
	}
	for _, a := range []netip.Addr{nodeAddr, podAddr, apiServerAddr} {
		if n := dials.count(a); n != 0 {
			t.Errorf("%d connections reached refused address %s", n, a)
		}
	}
	if n := svcDials.count(serviceIP); n != 0 {
		t.Errorf("%d connections reached the Service IP %s", n, serviceIP)
	}
}

// TestAddressPolicyFlips: once an AddressPolicy exists, a namespace may
// publish only the ranges of a policy that selects it; editing the policy
// or the namespace's labels re-decides existing Mydemos within seconds, in
// both directions, and a refused address is never probed.
func TestAddressPolicyFlips(t *testing.T) {
	ctx := context.Background()
	host := testhost.Require(t)
	dials := countDials(t, host, 8080)
	inside, outside := host.Addr(1), host.Addr(40)
	insideRange := netip.PrefixFrom(host.Subnet.Addr(), 27)
	outsideRange := netip.PrefixFrom(host.Addr(32), 27)

	e := newEnv(t)
	tenant := tenantClient(t, e, "tenant-"+e.ns)
	label := map[string]string{"crddemo.test/tenant": e.ns}
	setLabels := func(labels map[string]string) {
		t.Helper()
		ns, err := e.kube.CoreV1().Namespaces().Get(ctx, e.ns, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ns.Labels = labels
		if _, err := e.kube.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	setLabels(label)
	e.startController()

	// No policy: anything outside the cluster networks is published.
	_, err := tenant.CrddemoV1().Mydemos(e.ns).Create(ctx, &crddemov1.Mydemo{
		ObjectMeta: metav1.ObjectMeta{Name: "app"},
		Spec: crddemov1.MydemoSpec{
			Endpoints: []crddemov1.Endpoint{{IP: inside.String()}, {IP: outside.String()}},
			Port:      8080,
			Probe:     fastProbe,
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.waitPublication("app", nil, []netip.Addr{inside, outside}, converge)

	// A policy allows this namespace only the inside range.
	// While it exists, every other namespace is denied everything: it
	// is deleted when the test ends.
	createAddressPolicy(t, e, "tenancy-"+e.ns, metav1.LabelSelector{MatchLabels: label}, insideRange.String())
	const flip = 10 * time.Second // "within seconds", with slack for a loaded machine
	start := time.Now()
	md := e.waitPublication("app", map[netip.Addr]string{outside: policy.ReasonNotAllowedByPolicy}, []netip.Addr{inside}, flip)
	t.Logf("newly denied endpoint unpublished after %v", time.Since(start).Round(10*time.Millisecond))
	if es, _ := endpointStatus(md, outside); !strings.Contains(es.Message, "no AddressPolicy allows") {
		t.Errorf("refusal message %q", es.Message)
	}
	e.waitEvent("app", corev1.EventTypeWarning, controller.ReasonAddressRefused, converge)
	time.Sleep(2 * time.Second) // a probe in flight when the policy changed has landed
	before := dials.count(outside)
	time.Sleep(4 * time.Second)
	if n := dials.count(outside) - before; n != 0 {
		t.Errorf("%d probes reached %s after it was refused", n, outside)
	}

	// The policy is widened: the outside address is published again.
	p, err := e.client.CrddemoV1().AddressPolicies().Get(ctx, "tenancy-"+e.ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Spec.CIDRs = append(p.Spec.CIDRs, outsideRange.String())
	if _, err := e.client.CrddemoV1().AddressPolicies().Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	e.waitPublication("app", nil, []netip.Addr{inside, outside}, flip)
	t.Logf("newly allowed endpoint published after %v", time.Since(start).Round(10*time.Millisecond))
	e.waitEndpointsReady("app", "2/2", probeLimit)

	// The namespace loses the label the policy selects: nothing is
	// allowed any more.
	setLabels(nil)
	e.waitPublication("app", map[netip.Addr]string{inside: policy.ReasonNotAllowedByPolicy, outside: policy.ReasonNotAllowedByPolicy}, nil, flip)
	e.waitCondition("app", crddemov1.ConditionReady, metav1.ConditionFalse, "", converge)

	// A tenant cannot write the policy.
	_, err = versionedAs(t, "tenant-"+e.ns).CrddemoV1().AddressPolicies().Create(ctx, &crddemov1.AddressPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "mine-" + e.ns},
		Spec:       crddemov1.AddressPolicySpec{CIDRs: []string{"0.0.0.0/0"}},
	}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("a tenant creating an AddressPolicy: %v, want Forbidden", err)
	}
}

// TestRefusalRevealsNothingToTenant: in a namespace no AddressPolicy
// selects (while one exists for others), a tenant who writes a Node's
// address, an address in a Node's Pod range and one in --denied-cidrs
// learns only NotAllowedByPolicy, in status and in the Event: not that the
// first two are the cluster's, not the Node's name, not the ranges, not
// the flag's value.
func TestRefusalRevealsNothingToTenant(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	nodeName := "secret-node-" + e.ns
	nodeAddr := netip.MustParseAddr("10.250.90.7")
	podCIDR := netip.MustParsePrefix("10.250.64.0/24")
	podAddr := netip.MustParseAddr("10.250.64.44")
	denied := netip.MustParsePrefix("10.251.0.0/16")
	deniedAddr := netip.MustParseAddr("10.251.3.4")
	createNode(t, e.kube, nodeName, podCIDR, nodeAddr)
	// A policy for another namespace only: this one is allowed nothing.
	createAddressPolicy(t, e, "others-"+e.ns, metav1.LabelSelector{MatchLabels: map[string]string{"crddemo.test/other": e.ns}}, "0.0.0.0/0", "::/0")
	tenant := tenantClient(t, e, "tenant-"+e.ns)
	e.startController(func(c *operator.Config) { c.DeniedCIDRs = []netip.Prefix{denied} })

	// Not probed: were a refusal broken, nothing would be dialled.
	spec := endpoints(nodeAddr.String(), podAddr.String(), deniedAddr.String())
	if _, err := tenant.CrddemoV1().Mydemos(e.ns).Create(ctx, &crddemov1.Mydemo{ObjectMeta: metav1.ObjectMeta{Name: "guess"}, Spec: spec}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	refused := map[netip.Addr]string{nodeAddr: policy.ReasonNotAllowedByPolicy, podAddr: policy.ReasonNotAllowedByPolicy, deniedAddr: policy.ReasonNotAllowedByPolicy}
	e.waitPublication("guess", refused, nil, converge)

	// What a refusal must not say: the Node, the ranges, the flag, and
	// (for the messages about these addresses) that they are the
	// cluster's or denied at all. The addresses the tenant wrote may be
	// named.
	secrets := []string{nodeName, podCIDR.String(), podCIDR.Addr().String(), denied.String(), denied.Addr().String(), "--denied-cidrs"}
	aboutAddresses := append([]string{"Node", "/", "denied", "cluster"}, secrets...)
	revealsAny := func(s string, words []string) string {
		for _, x := range words {
			if strings.Contains(s, x) {
				return x
			}
		}
		return ""
	}
	reveals := func(s string) string { return revealsAny(s, aboutAddresses) }
	md, err := tenant.CrddemoV1().Mydemos(e.ns).Get(ctx, "guess", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	first, _ := endpointStatus(md, nodeAddr)
	for a := range refused {
		es, _ := endpointStatus(md, a)
		if x := reveals(es.Message); x != "" || es.Message != first.Message {
			t.Errorf("refusal of %s: %q reveals %q, or differs from %q", a, es.Message, x, first.Message)
		}
	}
	for _, c := range md.Status.Conditions {
		if x := revealsAny(c.Message, secrets); x != "" {
			t.Errorf("condition %s: %q reveals %q", c.Type, c.Message, x)
		}
	}
	ev := e.waitEvent("guess", corev1.EventTypeWarning, controller.ReasonAddressRefused, converge)
	if x := reveals(ev.Message); x != "" {
		t.Errorf("AddressRefused Event %q reveals %q", ev.Message, x)
	}
}

// TestTeredoFormOfNodeAddressRefused: a Teredo address (2001::/32) whose
// client part is a Node's IPv4 address, bit-inverted as RFC 4380 has it,
// reaches that Node through a Teredo relay; it is refused as
// ClusterNetwork, as the Node's address is.
func TestTeredoFormOfNodeAddressRefused(t *testing.T) {
	e := newEnv(t)
	node := netip.MustParseAddr("10.250.90.8")
	createNode(t, e.kube, "teredo-"+e.ns, netip.MustParsePrefix("10.250.65.0/24"), node)
	e.startController()
	tenant := tenantClient(t, e, "tenant-"+e.ns)
	b := node.As4()
	// Server 10.252.0.1 (no network of this cluster), flags 0x8000, an
	// obfuscated port, then the inverted client address.
	teredo := netip.AddrFrom16([16]byte{0x20, 0x01, 0, 0, 10, 252, 0, 1, 0x80, 0, 0x63, 0xbf, ^b[0], ^b[1], ^b[2], ^b[3]})
	// Not probed: were the refusal broken, nothing would be dialled.
	if _, err := tenant.CrddemoV1().Mydemos(e.ns).Create(context.Background(), &crddemov1.Mydemo{
		ObjectMeta: metav1.ObjectMeta{Name: "teredo"},
		Spec:       unprobed(teredo.String(), 80),
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating a Mydemo for %s: %v", teredo, err)
	}
	if es := e.waitEndpointVerdict("teredo", teredo); es.Published || es.Reason != policy.ReasonClusterNetwork {
		t.Errorf("%s (Teredo form of Node address %s) is published=%v reason=%q message=%q; want refused %s", teredo, node, es.Published, es.Reason, es.Message, policy.ReasonClusterNetwork)
	}
}

func versionedAs(t *testing.T, user string) versioned.Interface {
	t.Helper()
	cfg, err := framework.Get().UserConfig(user)
	if err != nil {
		t.Fatal(err)
	}
	return versioned.NewForConfigOrDie(cfg)
}
