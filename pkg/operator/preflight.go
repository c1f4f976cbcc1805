package operator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
)

// PreflightTimeout bounds the start-up checks.
const PreflightTimeout = 20 * time.Second

// CRDInstallHint tells the user how to install the CRD.
const CRDInstallHint = "kubectl apply -f crd/ (or kubectl apply -k deploy/)"

// ErrCRDNotInstalled is returned by Preflight when the API server does not
// serve crddemo.k8s.io/v1 mydemos.
var ErrCRDNotInstalled = errors.New("the Mydemo CRD (mydemos.crddemo.k8s.io) is not installed; install it with: " + CRDInstallHint)

// permission is one access the controller needs.
type permission struct {
	group, resource, subresource, verb string
	// Checks are made in the watched namespace (cluster-wide when
	// watching all namespaces), unless the resource is cluster-scoped or
	// the check names its own namespace.
	clusterScoped bool
	namespace     string
}

// requiredPermissions are exactly the verbs the controller uses; deploy/
// grants these and nothing more.
var requiredPermissions = []permission{
	{group: crddemov1.SchemeGroupVersion.Group, resource: "mydemos", verb: "list"},
	{group: crddemov1.SchemeGroupVersion.Group, resource: "mydemos", verb: "watch"},
	{group: crddemov1.SchemeGroupVersion.Group, resource: "mydemos", subresource: "status", verb: "update"},
	// blockOwnerDeletion in our ownerReferences needs it where owner
	// references are enforced (OwnerReferencesPermissionEnforcement).
	{group: crddemov1.SchemeGroupVersion.Group, resource: "mydemos", subresource: "finalizers", verb: "update"},
	{group: "", resource: "services", verb: "get"},
	{group: "", resource: "services", verb: "list"},
	{group: "", resource: "services", verb: "watch"},
	{group: "", resource: "services", verb: "create"},
	{group: "", resource: "services", verb: "update"},
	{group: "", resource: "services", verb: "delete"},
	{group: "discovery.k8s.io", resource: "endpointslices", verb: "get"},
	{group: "discovery.k8s.io", resource: "endpointslices", verb: "list"},
	{group: "discovery.k8s.io", resource: "endpointslices", verb: "watch"},
	{group: "discovery.k8s.io", resource: "endpointslices", verb: "create"},
	{group: "discovery.k8s.io", resource: "endpointslices", verb: "update"},
	{group: "discovery.k8s.io", resource: "endpointslices", verb: "delete"},
	{group: "", resource: "events", verb: "create"},
	{group: "", resource: "events", verb: "patch"},
	// The address policy: the cluster's own networks (Pod CIDRs and
	// addresses of Nodes, ServiceCIDRs, the API server's EndpointSlice),
	// the namespaces' labels and the AddressPolicies.
	{group: "", resource: "nodes", verb: "list", clusterScoped: true},
	{group: "", resource: "nodes", verb: "watch", clusterScoped: true},
	{group: "", resource: "namespaces", verb: "list", clusterScoped: true},
	{group: "", resource: "namespaces", verb: "watch", clusterScoped: true},
	{group: "networking.k8s.io", resource: "servicecidrs", verb: "list", clusterScoped: true},
	{group: "networking.k8s.io", resource: "servicecidrs", verb: "watch", clusterScoped: true},
	{group: "discovery.k8s.io", resource: "endpointslices", verb: "list", namespace: metav1.NamespaceDefault},
	{group: "discovery.k8s.io", resource: "endpointslices", verb: "watch", namespace: metav1.NamespaceDefault},
	{group: crddemov1.SchemeGroupVersion.Group, resource: "addresspolicies", verb: "list", clusterScoped: true},
	{group: crddemov1.SchemeGroupVersion.Group, resource: "addresspolicies", verb: "watch", clusterScoped: true},
}

// Preflight checks, before anything starts, that the API server answers,
// that the Mydemo CRD is installed and that this identity has every
// permission the controller uses, so a misconfiguration is one clear error
// instead of a controller that hangs or logs forever.
func (o *Operator) Preflight(ctx context.Context) error {
	// An API server that accepts connections but never answers must not
	// hang the start: bound the whole check and each request.
	ctx, cancel := context.WithTimeout(ctx, PreflightTimeout)
	defer cancel()
	cfg := rest.CopyConfig(o.cfg.RestConfig)
	cfg.Timeout = PreflightTimeout / 2
	disco, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return fmt.Errorf("creating the discovery client: %w", err)
	}
	if _, err := disco.ServerVersion(); err != nil {
		return fmt.Errorf("the API server at %s is unreachable: %w", o.cfg.RestConfig.Host, err)
	}
	resources, err := disco.ServerResourcesForGroupVersion(crddemov1.SchemeGroupVersion.String())
	if apierrors.IsNotFound(err) {
		return ErrCRDNotInstalled
	}
	if err != nil {
		return fmt.Errorf("discovering %s: %w", crddemov1.SchemeGroupVersion, err)
	}
	found := false
	for _, r := range resources.APIResources {
		if r.Name == "mydemos" {
			found = true
		}
	}
	if !found {
		return ErrCRDNotInstalled
	}

	var missing []string
	for _, p := range requiredPermissions {
		ns := o.cfg.Namespace
		switch {
		case p.clusterScoped:
			ns = ""
		case p.namespace != "":
			ns = p.namespace
		}
		review := &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{
				ResourceAttributes: &authorizationv1.ResourceAttributes{
					Namespace:   ns,
					Verb:        p.verb,
					Group:       p.group,
					Resource:    p.resource,
					Subresource: p.subresource,
				},
			},
		}
		res, err := o.kubeClient.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("checking permissions: %w", err)
		}
		if !res.Status.Allowed {
			missing = append(missing, describe(p, ns))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing RBAC permissions: %s (apply deploy/ or grant them to this identity)", strings.Join(missing, "; "))
	}
	return nil
}

func describe(p permission, namespace string) string {
	res := p.resource
	if p.subresource != "" {
		res += "/" + p.subresource
	}
	if p.group != "" {
		res += "." + p.group
	}
	where := "in all namespaces"
	if p.clusterScoped {
		where = "(cluster-scoped)"
	}
	if namespace != "" {
		where = "in namespace " + namespace
	}
	return fmt.Sprintf("cannot %s %s %s", p.verb, res, where)
}
