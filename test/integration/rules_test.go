package integration

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2/ktesting"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/policy"
)

// invalid is the Go rules' verdict on a literal policy.ParseLiteral refuses.
const invalid = "invalid literal"

// addressRule is one address through every layer that judges it. The
// addresses are only validated, never dialled: no controller runs.
type addressRule struct {
	addr string
	// goRules is the controller's verdict, in the order parseSpec applies
	// its rules (policy.ParseLiteral, policy.Intrinsic, the Watcher):
	// "" allowed, else the reason. goPoliced is the same once the test's
	// AddressPolicy selects the namespace.
	goRules, goPoliced string
	// crd: the CRD's CEL refuses the address, in spec.ip and in
	// spec.endpoints[].ip alike.
	crd bool
	// admission, admissionPoliced: the admission policies of deploy/
	// refuse it, without and with the AddressPolicy. Never read where crd
	// is set: the API server validates the schema before it runs
	// validating admission, so such an address never reaches it.
	admission, admissionPoliced bool
	// why a layer decides otherwise than the Go rules. It must be set
	// exactly where one does (checked below): the layers agree unless the
	// table says why not.
	why string
}

// Why the layers differ, once each.
const (
	whyCanonical = "the CRD also wants the canonical form, so that the spec reads as its EndpointSlice; the controller publishes any spelling in canonical form"
	whyCarried   = "the CRD and admission judge an address as written; the IPv4 address a NAT64, 6to4 or Teredo form carries is the controller's to judge (deploy/admission-cluster-networks.yaml)"
	whyNodes     = "admission cannot see Node addresses and Pod ranges cheaply (one evaluation per object); the controller refuses them"
	whyDenied    = "--denied-cidrs is a flag of the controller; admission has no such parameter"
)

// Ranges of the test's cluster, beside the framework's ServiceCIDR
// 10.96.0.0/16.
var (
	rulesPodCIDR  = netip.MustParsePrefix("10.252.0.0/24")
	rulesNodeAddr = netip.MustParseAddr("10.253.0.7")
	rulesDenied   = netip.MustParsePrefix("203.0.113.0/25")
)

// rulesPolicyCIDRs are what the test's AddressPolicy allows its namespace:
// two public ranges, the NAT64 prefix (so that what a form carries is
// judged), and a Service range (so that the cluster networks are seen to
// beat a policy).
var rulesPolicyCIDRs = []string{"198.51.100.0/24", "2001:db8:1::/48", "64:ff9b::/96", "10.96.0.0/16"}

// addressRules is the table. Reasons are pkg/policy's.
var addressRules = []addressRule{
	// Literals the Go rules cannot parse: every layer refuses them.
	{addr: "::ffff:127.0.0.1", goRules: invalid, goPoliced: invalid, crd: true},
	{addr: "::ffff:198.51.100.7", goRules: invalid, goPoliced: invalid, crd: true},
	{addr: "fe80::1%eth0", goRules: invalid, goPoliced: invalid, crd: true},
	{addr: "198.51.100.0/24", goRules: invalid, goPoliced: invalid, crd: true},
	// Spelling: the CRD alone cares.
	{addr: "2001:db8:1:0::7", crd: true, why: whyCanonical},
	{addr: "2001:DB8:1::7", crd: true, why: whyCanonical},
	// What an address is by itself (policy.Intrinsic), whatever a policy
	// says.
	{addr: "127.0.0.1", goRules: policy.ReasonLoopback, goPoliced: policy.ReasonLoopback, crd: true},
	{addr: "127.10.20.30", goRules: policy.ReasonLoopback, goPoliced: policy.ReasonLoopback, crd: true},
	{addr: "::1", goRules: policy.ReasonLoopback, goPoliced: policy.ReasonLoopback, crd: true},
	{addr: "0.0.0.0", goRules: policy.ReasonUnspecified, goPoliced: policy.ReasonUnspecified, crd: true},
	{addr: "::", goRules: policy.ReasonUnspecified, goPoliced: policy.ReasonUnspecified, crd: true},
	{addr: "169.254.1.1", goRules: policy.ReasonLinkLocal, goPoliced: policy.ReasonLinkLocal, crd: true},
	{addr: "169.254.169.254", goRules: policy.ReasonLinkLocal, goPoliced: policy.ReasonLinkLocal, crd: true},
	{addr: "169.254.170.2", goRules: policy.ReasonLinkLocal, goPoliced: policy.ReasonLinkLocal, crd: true},
	{addr: "fe80::1", goRules: policy.ReasonLinkLocal, goPoliced: policy.ReasonLinkLocal, crd: true},
	{addr: "224.0.0.5", goRules: policy.ReasonNotUnicast, goPoliced: policy.ReasonNotUnicast, crd: true},
	{addr: "239.1.2.3", goRules: policy.ReasonNotUnicast, goPoliced: policy.ReasonNotUnicast, crd: true},
	{addr: "ff02::1", goRules: policy.ReasonNotUnicast, goPoliced: policy.ReasonNotUnicast, crd: true},
	{addr: "ff0e::1", goRules: policy.ReasonNotUnicast, goPoliced: policy.ReasonNotUnicast, crd: true},
	{addr: "255.255.255.255", goRules: policy.ReasonNotUnicast, goPoliced: policy.ReasonNotUnicast, crd: true},
	// Unicast to Go and CEL alike, though reserved or odd.
	{addr: "0.1.2.3", goPoliced: policy.ReasonNotAllowedByPolicy, admissionPoliced: true},
	{addr: "240.0.0.1", goPoliced: policy.ReasonNotAllowedByPolicy, admissionPoliced: true},
	{addr: "fec0::1", goPoliced: policy.ReasonNotAllowedByPolicy, admissionPoliced: true},
	// The cluster's Service range (ServiceCIDR kubernetes): refused even
	// where the policy allows it.
	{addr: "10.96.0.10", goRules: policy.ReasonClusterNetwork, goPoliced: policy.ReasonClusterNetwork, admission: true, admissionPoliced: true},
	{addr: "10.96.255.254", goRules: policy.ReasonClusterNetwork, goPoliced: policy.ReasonClusterNetwork, admission: true, admissionPoliced: true},
	{addr: "10.97.0.1", goPoliced: policy.ReasonNotAllowedByPolicy, admissionPoliced: true},
	// Cloud metadata addresses that are not link-local.
	{addr: "fd00:ec2::254", goRules: policy.ReasonMetadataAddress, goPoliced: policy.ReasonNotAllowedByPolicy, admission: true, admissionPoliced: true},
	{addr: "100.100.100.200", goRules: policy.ReasonMetadataAddress, goPoliced: policy.ReasonNotAllowedByPolicy, admission: true, admissionPoliced: true},
	{addr: "fd00:ec2::253", goPoliced: policy.ReasonNotAllowedByPolicy, admissionPoliced: true},
	// A Node's address and Pod range.
	{addr: rulesNodeAddr.String(), goRules: policy.ReasonClusterNetwork, goPoliced: policy.ReasonNotAllowedByPolicy, admissionPoliced: true, why: whyNodes},
	{addr: "10.252.0.9", goRules: policy.ReasonClusterNetwork, goPoliced: policy.ReasonNotAllowedByPolicy, admissionPoliced: true, why: whyNodes},
	// --denied-cidrs.
	{addr: "203.0.113.9", goRules: policy.ReasonDeniedRange, goPoliced: policy.ReasonNotAllowedByPolicy, admissionPoliced: true, why: whyDenied},
	{addr: "203.0.113.200", goPoliced: policy.ReasonNotAllowedByPolicy, admissionPoliced: true},
	// Forms that carry an IPv4 address.
	{addr: "64:ff9b::a60:a", goRules: policy.ReasonClusterNetwork, goPoliced: policy.ReasonClusterNetwork, why: whyCarried},          // NAT64 of 10.96.0.10
	{addr: "64:ff9b::7f00:1", goRules: policy.ReasonDeniedRange, goPoliced: policy.ReasonNotAllowedByPolicy, why: whyCarried},        // NAT64 of 127.0.0.1
	{addr: "64:ff9b::a9fe:a9fe", goRules: policy.ReasonMetadataAddress, goPoliced: policy.ReasonNotAllowedByPolicy, why: whyCarried}, // NAT64 of 169.254.169.254
	{addr: "64:ff9b::c633:6407"}, // NAT64 of 198.51.100.7
	{addr: "2002:a60:a::1", goRules: policy.ReasonClusterNetwork, goPoliced: policy.ReasonNotAllowedByPolicy, admissionPoliced: true, why: whyCarried},                         // 6to4 of 10.96.0.10
	{addr: "2001:0:c633:6414:8000:63bf:5601:5601", goRules: policy.ReasonMetadataAddress, goPoliced: policy.ReasonNotAllowedByPolicy, admissionPoliced: true, why: whyCarried}, // Teredo client 169.254.169.254
	{addr: "::ffff:0:a60:a", goRules: policy.ReasonClusterNetwork, goPoliced: policy.ReasonNotAllowedByPolicy, admissionPoliced: true, why: whyCarried},                        // IPv4-translated 10.96.0.10
	{addr: "::a60:a", goRules: policy.ReasonClusterNetwork, goPoliced: policy.ReasonNotAllowedByPolicy, admissionPoliced: true, why: whyCarried},                               // IPv4-compatible 10.96.0.10
	// Outside every range.
	{addr: "198.51.100.7"},
	{addr: "2001:db8:1::7"},
	{addr: "2001:db8:2::7", goPoliced: policy.ReasonNotAllowedByPolicy, admissionPoliced: true},
}

// TestAddressRulesAgree runs the same addresses through the CRD's CEL and
// the admission policies of deploy/ on the real API server, and through the
// Go rules (pkg/policy, fed by a Watcher on the same API server), without
// and with an AddressPolicy, and holds each layer to the table: changing
// one layer's rule alone fails here.
func TestAddressRulesAgree(t *testing.T) {
	checkTable(t)
	e := newEnv(t)
	ctx := context.Background()
	labelNamespace(t, e.kube, e.ns, map[string]string{teamLabel: e.ns})
	createNode(t, e.kube, "rules-"+e.ns, rulesPodCIDR, rulesNodeAddr)

	// The Go rules, fed as the controller feeds them.
	_, wctx := ktesting.NewTestContext(t)
	wctx, cancel := context.WithCancel(wctx)
	w, err := policy.NewWatcher(e.kube, e.client, policy.Options{DeniedCIDRs: []netip.Prefix{rulesDenied}})
	if err != nil {
		t.Fatal(err)
	}
	stopped := make(chan struct{})
	go func() { defer close(stopped); w.Run(wctx) }()
	t.Cleanup(func() { cancel(); <-stopped })
	e.eventually(converge, "the watcher to know the Node", func() (bool, string) {
		if !w.HasSynced() {
			return false, "not synced"
		}
		reason, _ := w.Refusal(e.ns, rulesNodeAddr)
		return reason == policy.ReasonClusterNetwork, reason
	})

	dryRun := func(spec crddemov1.MydemoSpec) error {
		_, err := e.client.CrddemoV1().Mydemos(e.ns).Create(ctx, &crddemov1.Mydemo{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "rules-"},
			Spec:       spec,
		}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err
	}
	// refused sends addr in spec.ip and in spec.endpoints[].ip, and says
	// whether the API server refused it, with want (422 for the schema,
	// 403 for admission) as the only acceptable kind of refusal, and the
	// same verdict for both fields.
	refused := func(addr string, want func(error) bool) (bool, string) {
		t.Helper()
		var verdicts [2]bool
		var msgs [2]string
		for i, spec := range []crddemov1.MydemoSpec{unprobed(addr, 80), {Endpoints: []crddemov1.Endpoint{{IP: addr}}, Port: 80, Probe: &crddemov1.Probe{Type: crddemov1.ProbeTypeNone}}} {
			err := dryRun(spec)
			if err != nil && !want(err) {
				t.Fatalf("%s: an unexpected kind of refusal: %v", addr, err)
			}
			verdicts[i], msgs[i] = err != nil, fmt.Sprint(err)
		}
		if verdicts[0] != verdicts[1] {
			t.Errorf("%s: refused in spec.ip: %v (%s), in spec.endpoints[].ip: %v (%s); the two fields' rules differ", addr, verdicts[0], msgs[0], verdicts[1], msgs[1])
		}
		return verdicts[0], msgs[0]
	}
	goRules := func(s string) string {
		addr, err := policy.ParseLiteral(s)
		if err != nil {
			return invalid
		}
		if d := policy.Intrinsic(addr); !d.Allowed {
			return d.Reason
		}
		reason, _ := w.Refusal(e.ns, addr)
		return reason
	}

	// (a) The CRD alone: no admission policy is installed yet.
	for _, r := range addressRules {
		if got, msg := refused(r.addr, apierrors.IsInvalid); got != r.crd {
			t.Errorf("CRD: %s refused=%v, want %v (%s)", r.addr, got, r.crd, msg)
		}
	}
	// (c) The Go rules, no AddressPolicy.
	for _, r := range addressRules {
		if got := goRules(r.addr); got != r.goRules {
			t.Errorf("Go rules: %s: %q, want %q", r.addr, got, r.goRules)
		}
	}
	// (b) Admission, no AddressPolicy.
	installPolicies(t, func() (bool, string) {
		if ok, why := denied(dryRun(unprobed("10.96.0.10", 80)), "a Service range of the cluster"); !ok {
			return false, why
		}
		return denied(dryRun(unprobed("fd00:ec2::254", 80)), "cloud metadata")
	}, "admission-address-policy.yaml", "admission-cluster-networks.yaml")
	checkAdmission := func(policed bool) {
		t.Helper()
		for _, r := range addressRules {
			if r.crd {
				continue
			}
			want := r.admission
			if policed {
				want = r.admissionPoliced
			}
			if got, msg := refused(r.addr, apierrors.IsForbidden); got != want {
				t.Errorf("admission (AddressPolicy: %v): %s refused=%v, want %v (%s)", policed, r.addr, got, want, msg)
			}
		}
	}
	checkAdmission(false)

	// With an AddressPolicy selecting the namespace, once both the
	// watcher and admission have it.
	createAddressPolicy(t, e, "rules-"+e.ns, metav1.LabelSelector{MatchLabels: map[string]string{teamLabel: e.ns}}, rulesPolicyCIDRs...)
	probe := netip.MustParseAddr("203.0.113.200")
	e.eventually(converge, "the AddressPolicy in the watcher and in admission", func() (bool, string) {
		if reason, _ := w.Refusal(e.ns, probe); reason != policy.ReasonNotAllowedByPolicy {
			return false, "watcher: " + reason
		}
		return denied(dryRun(unprobed(probe.String(), 80)), "is not allowed in namespace")
	})
	for _, r := range addressRules {
		if got := goRules(r.addr); got != r.goPoliced {
			t.Errorf("Go rules with the AddressPolicy: %s: %q, want %q", r.addr, got, r.goPoliced)
		}
	}
	checkAdmission(true)
}

// checkTable holds the table to its own promise: a layer's verdict differs
// from the Go rules' exactly where the row says why. The CRD's CEL judges
// what an address is by itself (policy.ParseLiteral and policy.Intrinsic),
// nothing of the cluster, so it agrees when it refuses exactly those;
// admission sees every address the CRD lets through, so it agrees when it
// refuses exactly what the Go rules refuse.
func checkTable(t *testing.T) {
	t.Helper()
	for _, r := range addressRules {
		var differs []string
		if r.crd != (r.goRules == invalid || intrinsic(r.goRules)) {
			differs = append(differs, "CRD")
		}
		if !r.crd {
			if r.admission != (r.goRules != "") {
				differs = append(differs, "admission")
			}
			if r.admissionPoliced != (r.goPoliced != "") {
				differs = append(differs, "admission with the AddressPolicy")
			}
		}
		switch {
		case len(differs) > 0 && r.why == "":
			t.Errorf("table: %s: %s differs from the Go rules, and the row does not say why", r.addr, strings.Join(differs, ", "))
		case len(differs) == 0 && r.why != "":
			t.Errorf("table: %s: the row says why a layer differs (%s), yet none does", r.addr, r.why)
		}
	}
}

// intrinsic reports whether reason is one of policy.Intrinsic's: the rules
// the CRD's CEL applies too.
func intrinsic(reason string) bool {
	switch reason {
	case policy.ReasonLoopback, policy.ReasonUnspecified, policy.ReasonLinkLocal, policy.ReasonNotUnicast:
		return true
	}
	return false
}
