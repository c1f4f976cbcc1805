package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/generated/clientset/versioned"
	"github.com/crddemo/crddemo/test/framework"
)

// deployDir holds the shipped manifests; the admission tests install them
// unchanged.
const deployDir = "../../deploy"

// controllerNamespace and controllerAccount are the controller's identity
// as deploy/ installs it (and as its admission policies name it).
const (
	controllerNamespace = "crddemo-system"
	controllerAccount   = "mydemo-controller"
)

// readDeploy decodes every object of a multi-document YAML file in deploy/.
func readDeploy(t *testing.T, file string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(deployDir, file))
	if err != nil {
		t.Fatal(err)
	}
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode %s: %v", file, err)
		}
		if obj != nil {
			objs = append(objs, &unstructured.Unstructured{Object: obj})
		}
	}
	if len(objs) == 0 {
		t.Fatalf("%s holds no objects", file)
	}
	return objs
}

// applyDeploy creates the objects of the given deploy/ files as they are
// and deletes them when the test ends. Objects that already exist (left by
// an earlier test whose cleanup is still running) are replaced.
func applyDeploy(t *testing.T, files ...string) {
	t.Helper()
	cfg := framework.Get().Config
	dyn := dynamic.NewForConfigOrDie(cfg)
	groups, err := restmapper.GetAPIGroupResources(kubernetes.NewForConfigOrDie(cfg).Discovery())
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDiscoveryRESTMapper(groups)
	ctx := context.Background()
	for _, file := range files {
		for _, obj := range readDeploy(t, file) {
			gvk := obj.GroupVersionKind()
			mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			var client dynamic.ResourceInterface = dyn.Resource(mapping.Resource)
			if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
				client = dyn.Resource(mapping.Resource).Namespace(obj.GetNamespace())
			}
			name := gvk.Kind + " " + obj.GetName()
			framework.Eventually(t, converge, "create "+name+" from "+file, func() (bool, string) {
				_, err := client.Create(ctx, obj, metav1.CreateOptions{})
				if apierrors.IsAlreadyExists(err) {
					// Gone soon: wait for it rather than inherit it.
					_ = client.Delete(ctx, obj.GetName(), metav1.DeleteOptions{})
				}
				return err == nil, fmt.Sprint(err)
			})
			t.Cleanup(func() {
				err := client.Delete(context.Background(), obj.GetName(), metav1.DeleteOptions{})
				if err != nil && !apierrors.IsNotFound(err) {
					t.Errorf("delete %s: %v", name, err)
				}
			})
		}
	}
}

// installPolicies applies deploy/ files of admission policies and waits
// until enforced reports that the API server enforces them. At cleanup it
// deletes them and waits until enforced reports false, so that no later
// test meets a policy on its way out. Register it after the objects
// enforced uses, so its cleanup runs before theirs.
func installPolicies(t *testing.T, enforced func() (bool, string), files ...string) {
	t.Helper()
	t.Cleanup(func() {
		framework.Eventually(t, converge, "the policies of "+strings.Join(files, ", ")+" to be unloaded", func() (bool, string) {
			on, why := enforced()
			return !on, why
		})
	})
	applyDeploy(t, files...)
	framework.Eventually(t, converge, "the policies of "+strings.Join(files, ", ")+" to be enforced", enforced)
}

// denied reports whether err is an admission refusal (403 or 422) with a
// message containing want.
func denied(err error, want string) (bool, string) {
	if err == nil {
		return false, "admitted"
	}
	if !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err) {
		return false, err.Error()
	}
	return strings.Contains(err.Error(), want), err.Error()
}

// user is a person with client certificates: name in no group but
// system:authenticated.
type user struct {
	name   string
	kube   kubernetes.Interface
	client versioned.Interface
}

func newUser(t *testing.T, name string, groups ...string) *user {
	t.Helper()
	cfg, err := framework.Get().UserConfig(name, groups...)
	if err != nil {
		t.Fatal(err)
	}
	return clientsFor(name, cfg)
}

func clientsFor(name string, cfg *rest.Config) *user {
	return &user{name: name, kube: kubernetes.NewForConfigOrDie(cfg), client: versioned.NewForConfigOrDie(cfg)}
}

// bind binds the ClusterRole role to the user in namespace ns (cluster-wide
// when ns is empty) and waits until the authorizer allows every one of
// attrs. (An aggregated role such as edit gains its rules in steps, so one
// allowed verb does not mean that the next one is.)
func (u *user) bind(t *testing.T, admin kubernetes.Interface, ns, role string, attrs ...authorizationv1.ResourceAttributes) {
	t.Helper()
	ctx := context.Background()
	om := metav1.ObjectMeta{Name: "test-" + u.name + "-" + role}
	subjects := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: u.name}}
	ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}
	if ns != "" {
		_, err := admin.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: om, Subjects: subjects, RoleRef: ref}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	} else {
		_, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: om, Subjects: subjects, RoleRef: ref}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = admin.RbacV1().ClusterRoleBindings().Delete(context.Background(), om.Name, metav1.DeleteOptions{})
		})
	}
	framework.Eventually(t, converge, u.name+" bound to "+role, func() (bool, string) {
		for _, attr := range attrs {
			if ok, why := u.can(attr); !ok {
				return false, why
			}
		}
		return true, ""
	})
}

// can asks the authorizer whether the user may do attr.
func (u *user) can(attr authorizationv1.ResourceAttributes) (bool, string) {
	review, err := u.kube.AuthorizationV1().SelfSubjectAccessReviews().Create(context.Background(), &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attr},
	}, metav1.CreateOptions{})
	if err != nil {
		return false, err.Error()
	}
	return review.Status.Allowed, fmt.Sprintf("%s %s/%s in %q: allowed=%v %s", attr.Verb, attr.Group, attr.Resource, attr.Namespace, review.Status.Allowed, review.Status.Reason)
}

// mydemoAttr is the access review of verb on Mydemos in ns.
func mydemoAttr(ns, verb string) authorizationv1.ResourceAttributes {
	return authorizationv1.ResourceAttributes{Namespace: ns, Verb: verb, Group: crddemov1.SchemeGroupVersion.Group, Resource: "mydemos"}
}

// dryRunMydemo sends a server-side dry-run create of a Mydemo: it runs
// every admission check and stores nothing.
func (u *user) dryRunMydemo(ns string, spec crddemov1.MydemoSpec) error {
	_, err := u.client.CrddemoV1().Mydemos(ns).Create(context.Background(), &crddemov1.Mydemo{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "dry-run-"},
		Spec:       spec,
	}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	return err
}

// endpoints is a spec of literal addresses and hostnames (an entry that
// parses as neither is taken as a hostname), probing off.
func endpoints(addrs ...string) crddemov1.MydemoSpec {
	spec := crddemov1.MydemoSpec{Port: 80, Probe: &crddemov1.Probe{Type: crddemov1.ProbeTypeNone}}
	for _, a := range addrs {
		if strings.ContainsAny(a, ":") || strings.Trim(a, "0123456789.") == "" {
			spec.Endpoints = append(spec.Endpoints, crddemov1.Endpoint{IP: a})
		} else {
			spec.Endpoints = append(spec.Endpoints, crddemov1.Endpoint{Hostname: a})
		}
	}
	return spec
}

// controllerIdentity creates the controller's ServiceAccount in
// crddemo-system with deploy/'s ClusterRole and binding, and returns
// clients authenticated as it. The namespace is created if missing and
// deleted again at cleanup.
func controllerIdentity(t *testing.T) *user {
	t.Helper()
	cp := framework.Get()
	admin := kubernetes.NewForConfigOrDie(cp.Config)
	ctx := context.Background()
	// A namespace left terminating by the previous test goes first.
	framework.Eventually(t, 2*converge, "namespace "+controllerNamespace+" created", func() (bool, string) {
		_, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
			ObjectMeta: metav1.ObjectMeta{Name: controllerNamespace},
		}, metav1.CreateOptions{})
		return err == nil, fmt.Sprint(err)
	})
	t.Cleanup(func() {
		_ = admin.CoreV1().Namespaces().Delete(context.Background(), controllerNamespace, metav1.DeleteOptions{})
	})
	applyDeploy(t, "serviceaccount.yaml", "clusterrole.yaml", "clusterrolebinding.yaml")
	cfg, err := cp.ServiceAccountConfig(ctx, controllerNamespace, controllerAccount)
	if err != nil {
		t.Fatal(err)
	}
	u := clientsFor("system:serviceaccount:"+controllerNamespace+":"+controllerAccount, cfg)
	framework.Eventually(t, converge, "the controller's ClusterRole in force", func() (bool, string) {
		return u.can(authorizationv1.ResourceAttributes{Verb: "update", Resource: "services", Namespace: "default"})
	})
	return u
}

// startAggregationController runs a kube-controller-manager with only the
// ClusterRole aggregation controller (the framework's runs the garbage
// collector and the namespace controller only), until the test ends.
func startAggregationController(t *testing.T) {
	t.Helper()
	cp := framework.Get()
	kcm, err := cp.StartControllerManager(filepath.Join(t.TempDir(), "kube-controller-manager.log"), "clusterrole-aggregation")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := kcm.Kill(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("kube-controller-manager log (end):%s", kcm.Tail(20))
		}
	})
	// Runs after the test's roles are deleted, before the kill above (cleanups run last first): the
	// built-in roles lose the Mydemo rules again, so no later test
	// inherits them.
	admin := kubernetes.NewForConfigOrDie(cp.Config)
	t.Cleanup(func() {
		framework.Eventually(t, converge, "view, edit and admin without Mydemo rules", func() (bool, string) {
			found, why := aggregatedMydemos(admin, "view", "edit", "admin")
			return !found, why
		})
	})
}

// aggregatedMydemos reports whether any of the ClusterRoles has a rule on
// Mydemos, and which.
func aggregatedMydemos(kube kubernetes.Interface, roles ...string) (bool, string) {
	var found []string
	for _, name := range roles {
		role, err := kube.RbacV1().ClusterRoles().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return true, err.Error()
		}
		for _, r := range role.Rules {
			if slices.Contains(r.APIGroups, crddemov1.SchemeGroupVersion.Group) && slices.Contains(r.Resources, "mydemos") {
				found = append(found, name+": "+strings.Join(r.Verbs, ","))
			}
		}
	}
	return len(found) > 0, strings.Join(found, "; ")
}

// annotate adds an annotation to the Service or EndpointSlice name in e's
// namespace as the client c, for real or as a dry run: a write the
// children guard and the controller restraint judge.
func (e *env) annotate(c kubernetes.Interface, kind, name string, dryRun bool) error {
	opts := metav1.PatchOptions{}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	ctx := context.Background()
	patch := []byte(`{"metadata":{"annotations":{"example.com/touched":"yes"}}}`)
	var err error
	if kind == "Service" {
		_, err = c.CoreV1().Services(e.ns).Patch(ctx, name, types.MergePatchType, patch, opts)
	} else {
		_, err = c.DiscoveryV1().EndpointSlices(e.ns).Patch(ctx, name, types.MergePatchType, patch, opts)
	}
	return err
}
