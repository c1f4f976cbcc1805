package integration

// Tests of attempts to make the controller publish more than a Mydemo
// says. They use probe type None: nothing is dialled.

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/controller"
	"github.com/crddemo/crddemo/pkg/policy"
)

// waitEndpointVerdict waits until md's status lists addr and returns it.
func (e *env) waitEndpointVerdict(name string, addr netip.Addr) crddemov1.EndpointStatus {
	e.t.Helper()
	var es crddemov1.EndpointStatus
	e.eventually(converge, fmt.Sprintf("Mydemo %s to judge %s", name, addr), func() (bool, string) {
		md, err := e.client.CrddemoV1().Mydemos(e.ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		var ok bool
		es, ok = endpointStatus(md, addr)
		return ok, fmt.Sprintf("%+v", md.Status)
	})
	return es
}

// TestAddressPolicySelectorValidated: an AddressPolicy whose selector
// LabelSelectorAsSelector would reject (an operator typo, In without
// values) is refused by the API server with a message naming the field,
// so it can neither lift nor silently skip a restriction. (A policy stored
// before this validation allows nothing: see pkg/policy.)
func TestAddressPolicySelectorValidated(t *testing.T) {
	e := newEnv(t)
	for name, req := range map[string]metav1.LabelSelectorRequirement{
		"operator typo":      {Key: "team", Operator: "in", Values: []string{"a"}},
		"In without values":  {Key: "team", Operator: metav1.LabelSelectorOpIn},
		"Exists with values": {Key: "team", Operator: metav1.LabelSelectorOpExists, Values: []string{"a"}},
	} {
		_, err := e.client.CrddemoV1().AddressPolicies().Create(context.Background(), &crddemov1.AddressPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "bad-" + e.ns},
			Spec: crddemov1.AddressPolicySpec{
				NamespaceSelector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{req}},
				CIDRs:             []string{"198.51.100.0/24"},
			},
		}, metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "namespaceSelector") {
			t.Errorf("%s: %v, want Invalid naming namespaceSelector", name, err)
			_ = e.client.CrddemoV1().AddressPolicies().Delete(context.Background(), "bad-"+e.ns, metav1.DeleteOptions{})
		}
	}
}

// TestNAT64FormOfNodeAddressRefused: a tenant writes a Node's IPv4 address
// in its NAT64 form (64:ff9b::/96, RFC 6052), which a NAT64 gateway would
// deliver to the Node. It is refused as ClusterNetwork, as the plain IPv4
// address is.
func TestNAT64FormOfNodeAddressRefused(t *testing.T) {
	e := newEnv(t)
	node := netip.MustParseAddr("172.31.99.9")
	createNode(t, e.kube, "review-nat64-"+e.ns, netip.MustParsePrefix("10.250.99.0/24"), node)
	e.startController()
	tenant := tenantClient(t, e, "tenant-"+e.ns)
	b := node.As4()
	nat64 := netip.AddrFrom16([16]byte{0, 0x64, 0xff, 0x9b, 10: 0, 11: 0, 12: b[0], 13: b[1], 14: b[2], 15: b[3]})
	if _, err := tenant.CrddemoV1().Mydemos(e.ns).Create(context.Background(), &crddemov1.Mydemo{
		ObjectMeta: metav1.ObjectMeta{Name: "plain"},
		Spec:       unprobed(node.String(), 80),
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := tenant.CrddemoV1().Mydemos(e.ns).Create(context.Background(), &crddemov1.Mydemo{
		ObjectMeta: metav1.ObjectMeta{Name: "nat64"},
		Spec:       unprobed(nat64.String(), 80),
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating a Mydemo for %s: %v", nat64, err)
	}
	if es := e.waitEndpointVerdict("plain", node); es.Published || es.Reason != policy.ReasonClusterNetwork {
		t.Fatalf("control: %s published=%v reason=%q", node, es.Published, es.Reason)
	}
	if es := e.waitEndpointVerdict("nat64", nat64); es.Published || es.Reason != policy.ReasonClusterNetwork {
		t.Errorf("%s (NAT64 form of Node address %s) is published=%v reason=%q message=%q; want refused %s", nat64, node, es.Published, es.Reason, es.Message, policy.ReasonClusterNetwork)
	}
}

// TestAdoptedServiceLosesForeignFields: the creator of a Service that
// conflicts with a Mydemo can make it name the Mydemo as its controller;
// the controller then treats it as the Mydemo's and rewrites it to what
// the Mydemo says. Fields that would send traffic elsewhere, such as
// spec.externalIPs, do not survive that.
func TestAdoptedServiceLosesForeignFields(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	foreign, err := e.kube.CoreV1().Services(e.ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{
			Ports:       []corev1.ServicePort{{Port: 1234}},
			ExternalIPs: []string{"192.0.2.50"},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.startController()
	md := e.createMydemo("web", unprobed("10.251.0.13", 8080))
	e.waitCondition("web", crddemov1.ConditionPublished, metav1.ConditionFalse, controller.ReasonServiceConflict, converge)

	foreign, err = e.getService("web")
	if err != nil {
		t.Fatal(err)
	}
	foreign.Labels = managedLabels("web")
	foreign.OwnerReferences = []metav1.OwnerReference{{
		APIVersion: crddemov1.SchemeGroupVersion.String(), Kind: "Mydemo", Name: md.Name, UID: md.UID, Controller: ptrTo(true),
	}}
	if _, err := e.kube.CoreV1().Services(e.ns).Update(ctx, foreign, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitCondition("web", crddemov1.ConditionPublished, metav1.ConditionTrue, controller.ReasonPublished, 2*converge)
	svc, err := e.getService("web")
	if err != nil {
		t.Fatal(err)
	}
	if len(svc.Spec.ExternalIPs) > 0 {
		t.Errorf("the controller adopted a Service it did not create and kept its externalIPs %v", svc.Spec.ExternalIPs)
	}
}
