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
	// namespaced checks are made in the watched namespace; the others
	// cluster-wide when watching all namespaces.
}

// requiredPermissions are exactly the verbs the controller uses; deploy/
// grants these and nothing more.
var requiredPermissions = []permission{
	{crddemov1.SchemeGroupVersion.Group, "mydemos", "", "list"},
	{crddemov1.SchemeGroupVersion.Group, "mydemos", "", "watch"},
	{crddemov1.SchemeGroupVersion.Group, "mydemos", "status", "update"},
	// blockOwnerDeletion in our ownerReferences needs it where owner
	// references are enforced (OwnerReferencesPermissionEnforcement).
	{crddemov1.SchemeGroupVersion.Group, "mydemos", "finalizers", "update"},
	{"", "services", "", "get"},
	{"", "services", "", "list"},
	{"", "services", "", "watch"},
	{"", "services", "", "create"},
	{"", "services", "", "update"},
	{"", "services", "", "delete"},
	{"discovery.k8s.io", "endpointslices", "", "get"},
	{"discovery.k8s.io", "endpointslices", "", "list"},
	{"discovery.k8s.io", "endpointslices", "", "watch"},
	{"discovery.k8s.io", "endpointslices", "", "create"},
	{"discovery.k8s.io", "endpointslices", "", "update"},
	{"discovery.k8s.io", "endpointslices", "", "delete"},
	{"", "events", "", "create"},
	{"", "events", "", "patch"},
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
		review := &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{
				ResourceAttributes: &authorizationv1.ResourceAttributes{
					Namespace:   o.cfg.Namespace,
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
			missing = append(missing, describe(p, o.cfg.Namespace))
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
	if namespace != "" {
		where = "in namespace " + namespace
	}
	return fmt.Sprintf("cannot %s %s %s", p.verb, res, where)
}
