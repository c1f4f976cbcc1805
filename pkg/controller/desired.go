package controller

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
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
	// LabelRole names the role of spec.roles a Service, or an
	// EndpointSlice of that Service, publishes. The Mydemo's own Service
	// and slices do not carry it.
	LabelRole = "crddemo.k8s.io/role"
	// EndpointSliceManagedBy is our value of the well-known
	// endpointslice.kubernetes.io/managed-by label, which tells the
	// cluster's own EndpointSlice controllers to leave our slices alone.
	EndpointSliceManagedBy = "mydemo-controller.crddemo.k8s.io"
)

// ManagedSelector selects the objects this controller manages.
const ManagedSelector = LabelManagedBy + "=" + ManagedBy

// mydemoKind is the GroupVersionKind written into ownerReferences.
var mydemoKind = crddemov1.SchemeGroupVersion.WithKind("Mydemo")

func ownerRef(md *crddemov1.Mydemo) metav1.OwnerReference {
	return *metav1.NewControllerRef(md, mydemoKind)
}

// serviceRef names one of a Mydemo's Services: its own (role "") or a
// role's.
type serviceRef struct {
	name string
	role string
}

// mainService is md's own Service.
func mainService(md *crddemov1.Mydemo) serviceRef { return serviceRef{name: md.Name} }

// roleService is the Service of md's role: <mydemo>-<role>.
func roleService(md *crddemov1.Mydemo, role string) serviceRef {
	return serviceRef{name: md.Name + "-" + role, role: role}
}

func childLabels(md *crddemov1.Mydemo, ref serviceRef) map[string]string {
	labels := map[string]string{
		LabelManagedBy: ManagedBy,
		LabelMydemo:    md.Name,
	}
	if ref.role != "" {
		labels[LabelRole] = ref.role
	}
	return labels
}

// serviceFamilies are the IP families of md's Service: those of its
// published endpoints, the first one primary. A Service that exists keeps
// its primary family while endpoints of that family remain, since changing
// it means replacing the Service. With no endpoints at all, the existing
// Service's families stay.
func serviceFamilies(eps []endpoint, existing *corev1.Service) []corev1.IPFamily {
	var fams []corev1.IPFamily
	for _, e := range eps {
		if f := e.family(); !slices.Contains(fams, f) {
			fams = append(fams, f)
		}
	}
	if len(fams) == 0 {
		if existing != nil && len(existing.Spec.IPFamilies) > 0 {
			return existing.Spec.IPFamilies
		}
		return []corev1.IPFamily{corev1.IPv4Protocol}
	}
	if len(fams) == 2 && existing != nil && len(existing.Spec.IPFamilies) > 0 && existing.Spec.IPFamilies[0] == fams[1] {
		fams[0], fams[1] = fams[1], fams[0]
	}
	return fams
}

// newService is the Service ref of md: selector-less, so the
// cluster's EndpointSlice controller leaves its endpoints to us, and
// headless (clusterIP None) when md asks for it. A role's Service keeps
// its cluster IP even then: a role with maxEndpoints guards a single
// writer, and a failover must move new connections at once, which
// kube-proxy does with the slice write, while a DNS answer keeps clients
// on the old member for as long as they cache it. It is
// single-stack in one family or, with endpoints of both, PreferDualStack
// naming only the first family: the API server adds the second where the
// cluster serves it, and a single-stack cluster keeps the Service in the
// family it has instead of rejecting it (see families.go).
func newService(md *crddemov1.Mydemo, ref serviceRef, spec parsedSpec, families []corev1.IPFamily) *corev1.Service {
	policy := corev1.IPFamilyPolicySingleStack
	if len(families) > 1 {
		policy = corev1.IPFamilyPolicyPreferDualStack
		families = families[:1]
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name:            ref.name,
			Namespace:       md.Namespace,
			Labels:          childLabels(md, ref),
			OwnerReferences: []metav1.OwnerReference{ownerRef(md)},
		},
		Spec: corev1.ServiceSpec{
			Type:                corev1.ServiceTypeClusterIP,
			IPFamilies:          families,
			IPFamilyPolicy:      ptr.To(policy),
			TrafficDistribution: md.Spec.TrafficDistribution,
		},
	}
	if md.Spec.Headless && ref.role == "" {
		svc.Spec.ClusterIP = corev1.ClusterIPNone
	}
	for _, p := range spec.ports {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{
			Name:        p.name,
			Protocol:    p.protocol,
			Port:        p.port,
			TargetPort:  intstr.FromInt32(p.port),
			AppProtocol: p.appProtocol,
		})
	}
	return svc
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
// comparison with the cache is stable. Fields that would send traffic
// somewhere the Mydemo does not say (external IPs, an external name) must
// be empty: a Service that names a Mydemo as its controller, whoever
// wrote it, publishes that Mydemo and nothing else. Nor may one send it
// nowhere: internalTrafficPolicy Local keeps in-cluster traffic on the
// client's node, and no endpoint of a Mydemo is on a node, so kube-proxy
// would drop every connection.
func serviceMatches(existing, desired *corev1.Service) bool {
	return labelsMatch(existing.Labels, desired.Labels) &&
		existing.Spec.Type == desired.Spec.Type &&
		len(existing.Spec.Selector) == 0 &&
		len(existing.Spec.ExternalIPs) == 0 &&
		existing.Spec.ExternalName == "" &&
		!nodeLocal(existing) &&
		isHeadless(existing) == isHeadless(desired) &&
		familiesMatch(existing, desired) &&
		equality.Semantic.DeepEqual(existing.Spec.IPFamilyPolicy, desired.Spec.IPFamilyPolicy) &&
		equality.Semantic.DeepEqual(existing.Spec.TrafficDistribution, desired.Spec.TrafficDistribution) &&
		servicePortsMatch(existing.Spec.Ports, desired.Spec.Ports)
}

// nodeLocal reports whether svc keeps in-cluster traffic on the client's
// node. The API server defaults the field to Cluster, which is ours too.
func nodeLocal(svc *corev1.Service) bool {
	p := svc.Spec.InternalTrafficPolicy
	return p != nil && *p == corev1.ServiceInternalTrafficPolicyLocal
}

// isHeadless reports whether svc has no cluster IP. The API server keeps
// clusterIP "None" as written, and never allocates an address to it, nor
// removes one: going either way needs a new Service (planServiceChange).
func isHeadless(svc *corev1.Service) bool {
	return svc.Spec.ClusterIP == corev1.ClusterIPNone
}

// familiesMatch reports whether existing has the IP families desired asks
// for. A PreferDualStack Service asks only for its first family; the
// second is the API server's to add.
func familiesMatch(existing, desired *corev1.Service) bool {
	have, want := existing.Spec.IPFamilies, desired.Spec.IPFamilies
	if p := desired.Spec.IPFamilyPolicy; p != nil && *p == corev1.IPFamilyPolicyPreferDualStack && len(want) == 1 {
		return len(have) > 0 && have[0] == want[0]
	}
	return equality.Semantic.DeepEqual(have, want)
}

// updatedService returns a copy of existing changed to match desired in
// every field we own, or nil when existing already matches. What others
// added (annotations, labels, a port's appProtocol we do not set) stays.
func updatedService(existing, desired *corev1.Service) *corev1.Service {
	if serviceMatches(existing, desired) {
		return nil
	}
	out := existing.DeepCopy()
	mergeLabels(&out.ObjectMeta, desired.Labels)
	out.Spec.Type = desired.Spec.Type
	out.Spec.Selector = nil
	out.Spec.ExternalIPs = nil
	out.Spec.ExternalName = ""
	if nodeLocal(out) {
		out.Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyCluster)
	}
	if out.Spec.Type == corev1.ServiceTypeClusterIP {
		// Fields of other types, which the API refuses on a ClusterIP
		// Service.
		out.Spec.LoadBalancerIP = ""
		out.Spec.LoadBalancerSourceRanges = nil
		out.Spec.LoadBalancerClass = nil
		out.Spec.AllocateLoadBalancerNodePorts = nil
		out.Spec.ExternalTrafficPolicy = ""
		out.Spec.HealthCheckNodePort = 0
	}
	if !familiesMatch(existing, desired) {
		if len(desired.Spec.IPFamilies) < len(out.Spec.ClusterIPs) {
			// Going back to one family: the second cluster IP goes too.
			out.Spec.ClusterIPs = out.Spec.ClusterIPs[:len(desired.Spec.IPFamilies)]
		}
		out.Spec.IPFamilies = desired.Spec.IPFamilies
	}
	out.Spec.IPFamilyPolicy = desired.Spec.IPFamilyPolicy
	out.Spec.TrafficDistribution = desired.Spec.TrafficDistribution
	ports := make([]corev1.ServicePort, len(desired.Spec.Ports))
	for i, want := range desired.Spec.Ports {
		ports[i] = want
		if old := findServicePort(existing.Spec.Ports, want); old != nil {
			if out.Spec.Type != corev1.ServiceTypeClusterIP {
				ports[i].NodePort = old.NodePort
			}
			if want.AppProtocol == nil {
				ports[i].AppProtocol = old.AppProtocol
			}
		}
	}
	out.Spec.Ports = ports
	return out
}

// findServicePort finds the port of have that stands for want.
func findServicePort(have []corev1.ServicePort, want corev1.ServicePort) *corev1.ServicePort {
	for i := range have {
		if have[i].Port == want.Port && have[i].Protocol == want.Protocol {
			return &have[i]
		}
	}
	return nil
}

// servicePortsMatch compares the port fields we set. NodePort, and an
// AppProtocol the spec does not set, are not ours to judge.
func servicePortsMatch(have, want []corev1.ServicePort) bool {
	if len(have) != len(want) {
		return false
	}
	for i := range want {
		if have[i].Name != want[i].Name || have[i].Protocol != want[i].Protocol ||
			have[i].Port != want[i].Port || have[i].TargetPort != want[i].TargetPort ||
			(want[i].AppProtocol != nil && !equality.Semantic.DeepEqual(have[i].AppProtocol, want[i].AppProtocol)) {
			return false
		}
	}
	return true
}
