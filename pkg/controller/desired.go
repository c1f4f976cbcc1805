package controller

import (
	"net"
	"net/netip"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
)

// Labels on every object the controller creates. The Service and
// EndpointSlice informers watch only objects with LabelManagedBy=ManagedBy,
// so the controller's memory does not grow with the cluster's other objects.
const (
	// LabelManagedBy marks the objects this controller manages.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedBy is the value of LabelManagedBy on our objects.
	ManagedBy = "crddemo-controller"
	// LabelMydemo names the Mydemo an object publishes.
	LabelMydemo = "crddemo.k8s.io/mydemo"
	// EndpointSliceManagedBy is our value of the well-known
	// endpointslice.kubernetes.io/managed-by label, which tells the
	// cluster's own EndpointSlice controllers to leave our slices alone.
	EndpointSliceManagedBy = "mydemo-controller.crddemo.k8s.io"
)

// ManagedSelector selects the objects this controller manages.
const ManagedSelector = LabelManagedBy + "=" + ManagedBy

// mydemoKind is the GroupVersionKind written into ownerReferences.
var mydemoKind = crddemov1.SchemeGroupVersion.WithKind("Mydemo")

// parsedSpec is the part of a Mydemo's spec that decides the children.
type parsedSpec struct {
	addr     netip.Addr
	family   corev1.IPFamily
	port     int32
	protocol corev1.Protocol
}

// parseSpec reads the spec. The CRD's validation already rejects bad IPs;
// this is the last line of defence for objects stored before it existed.
func parseSpec(md *crddemov1.Mydemo) (parsedSpec, bool) {
	addr, err := netip.ParseAddr(md.Spec.IP)
	// An IPv4-mapped IPv6 address fits neither address type of a slice.
	if err != nil || addr.Zone() != "" || addr.Is4In6() {
		return parsedSpec{}, false
	}
	family := corev1.IPv4Protocol
	if addr.Is6() {
		family = corev1.IPv6Protocol
	}
	protocol := corev1.Protocol(md.Spec.Protocol)
	if protocol == "" {
		protocol = corev1.ProtocolTCP
	}
	return parsedSpec{addr: addr, family: family, port: md.Spec.Port, protocol: protocol}, true
}

// endpoint renders ip:port for messages and the prober.
func (p parsedSpec) endpoint() string {
	return net.JoinHostPort(p.addr.String(), strconv.Itoa(int(p.port)))
}

func ownerRef(md *crddemov1.Mydemo) metav1.OwnerReference {
	return *metav1.NewControllerRef(md, mydemoKind)
}

func childLabels(md *crddemov1.Mydemo) map[string]string {
	return map[string]string{
		LabelManagedBy: ManagedBy,
		LabelMydemo:    md.Name,
	}
}

// newService is the Service that publishes md: selector-less, so the
// cluster's EndpointSlice controller leaves its endpoints to us.
func newService(md *crddemov1.Mydemo, spec parsedSpec) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name:            md.Name,
			Namespace:       md.Namespace,
			Labels:          childLabels(md),
			OwnerReferences: []metav1.OwnerReference{ownerRef(md)},
		},
		Spec: corev1.ServiceSpec{
			Type:           corev1.ServiceTypeClusterIP,
			IPFamilies:     []corev1.IPFamily{spec.family},
			IPFamilyPolicy: ptr.To(corev1.IPFamilyPolicySingleStack),
			Ports: []corev1.ServicePort{{
				Protocol:   spec.protocol,
				Port:       spec.port,
				TargetPort: intstr.FromInt32(spec.port),
			}},
		},
	}
}

// endpointSliceName is deterministic and includes the address family:
// addressType is immutable, so a family change needs a new slice, and a new
// name lets the new slice exist before the old one is deleted.
func endpointSliceName(md *crddemov1.Mydemo, family corev1.IPFamily) string {
	return md.Name + "-" + strings.ToLower(string(family))
}

func addressType(family corev1.IPFamily) discoveryv1.AddressType {
	if family == corev1.IPv6Protocol {
		return discoveryv1.AddressTypeIPv6
	}
	return discoveryv1.AddressTypeIPv4
}

// newEndpointSlice is the single-endpoint slice of md's Service. ready is
// the probe's verdict (or true when probing is off).
func newEndpointSlice(md *crddemov1.Mydemo, spec parsedSpec, ready bool) *discoveryv1.EndpointSlice {
	labels := childLabels(md)
	labels[discoveryv1.LabelServiceName] = md.Name
	labels[discoveryv1.LabelManagedBy] = EndpointSliceManagedBy
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name:            endpointSliceName(md, spec.family),
			Namespace:       md.Namespace,
			Labels:          labels,
			OwnerReferences: []metav1.OwnerReference{ownerRef(md)},
		},
		AddressType: addressType(spec.family),
		Endpoints: []discoveryv1.Endpoint{{
			Addresses: []string{spec.addr.String()},
			Conditions: discoveryv1.EndpointConditions{
				Ready:       ptr.To(ready),
				Serving:     ptr.To(ready),
				Terminating: ptr.To(false),
			},
		}},
		Ports: []discoveryv1.EndpointPort{{
			Name:     ptr.To(""),
			Protocol: ptr.To(spec.protocol),
			Port:     ptr.To(spec.port),
		}},
	}
}

// labelsMatch reports whether have carries every label of want.
func labelsMatch(have, want map[string]string) bool {
	for k, v := range want {
		if cur, ok := have[k]; !ok || cur != v {
			return false
		}
	}
	return true
}

// mergeLabels copies the labels we need into existing metadata, keeping
// what others added.
func mergeLabels(existing *metav1.ObjectMeta, want map[string]string) {
	if existing.Labels == nil {
		existing.Labels = make(map[string]string, len(want))
	}
	for k, v := range want {
		existing.Labels[k] = v
	}
}

// serviceMatches compares the fields we own. Fields the API server
// defaults (cluster IPs, session affinity, ...) are not ours, so a
// comparison with the cache is stable.
func serviceMatches(existing, desired *corev1.Service) bool {
	return labelsMatch(existing.Labels, desired.Labels) &&
		existing.Spec.Type == desired.Spec.Type &&
		len(existing.Spec.Selector) == 0 &&
		equality.Semantic.DeepEqual(existing.Spec.IPFamilies, desired.Spec.IPFamilies) &&
		equality.Semantic.DeepEqual(existing.Spec.IPFamilyPolicy, desired.Spec.IPFamilyPolicy) &&
		servicePortsMatch(existing.Spec.Ports, desired.Spec.Ports)
}

// updatedService returns a copy of existing changed to match desired in
// every field we own, or nil when existing already matches.
func updatedService(existing, desired *corev1.Service) *corev1.Service {
	if serviceMatches(existing, desired) {
		return nil
	}
	out := existing.DeepCopy()
	mergeLabels(&out.ObjectMeta, desired.Labels)
	out.Spec.Type = desired.Spec.Type
	out.Spec.Selector = nil
	out.Spec.IPFamilies = desired.Spec.IPFamilies
	out.Spec.IPFamilyPolicy = desired.Spec.IPFamilyPolicy
	out.Spec.Ports = desired.Spec.Ports
	return out
}

// servicePortsMatch compares the port fields we set; NodePort and
// AppProtocol are not ours to judge.
func servicePortsMatch(have, want []corev1.ServicePort) bool {
	if len(have) != len(want) {
		return false
	}
	for i := range want {
		if have[i].Name != want[i].Name || have[i].Protocol != want[i].Protocol ||
			have[i].Port != want[i].Port || have[i].TargetPort != want[i].TargetPort {
			return false
		}
	}
	return true
}

// updatedEndpointSlice returns a copy of existing changed to match desired,
// or nil when it already matches.
func updatedEndpointSlice(existing, desired *discoveryv1.EndpointSlice) *discoveryv1.EndpointSlice {
	if labelsMatch(existing.Labels, desired.Labels) &&
		equality.Semantic.DeepEqual(existing.Endpoints, desired.Endpoints) &&
		equality.Semantic.DeepEqual(existing.Ports, desired.Ports) {
		return nil
	}
	out := existing.DeepCopy()
	mergeLabels(&out.ObjectMeta, desired.Labels)
	out.Endpoints = desired.Endpoints
	out.Ports = desired.Ports
	return out
}
