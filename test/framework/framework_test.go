package framework_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apiextensions-apiserver/pkg/apihelpers"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/generated/clientset/versioned"
	"github.com/crddemo/crddemo/test/framework"
)

const (
	wantServerVersion = "v1.37.2"
	mydemoCRD         = "mydemos.crddemo.k8s.io"
	gcDeadline        = 60 * time.Second
	rbacDeadline      = 10 * time.Second
)

func TestMain(m *testing.M) {
	os.Exit(framework.RunMain(m, framework.Options{ControllerManager: true}))
}

// controlPlane returns the shared control plane and an admin clientset.
func controlPlane(t *testing.T) (*framework.ControlPlane, *kubernetes.Clientset) {
	t.Helper()
	cp := framework.Get()
	if cp == nil {
		t.Fatal("no control plane: TestMain must use framework.RunMain")
	}
	cs, err := kubernetes.NewForConfig(cp.Config)
	if err != nil {
		t.Fatalf("create clientset: %v", err)
	}
	return cp, cs
}

func mydemoClient(t *testing.T, cfg *rest.Config) *versioned.Clientset {
	t.Helper()
	cs, err := versioned.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("create crddemo clientset: %v", err)
	}
	return cs
}

func newMydemo(name string) *crddemov1.Mydemo {
	return &crddemov1.Mydemo{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: crddemov1.MydemoSpec{
			IP:    "10.251.0.1",
			Port:  8080,
			Probe: &crddemov1.Probe{Type: crddemov1.ProbeTypeNone},
		},
	}
}

func TestCRDAndKubectl(t *testing.T) {
	cp, _ := controlPlane(t)
	ctx := t.Context()

	ext, err := apiextensionsclient.NewForConfig(cp.Config)
	if err != nil {
		t.Fatalf("create apiextensions clientset: %v", err)
	}
	crd, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, mydemoCRD, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get CRD: %v", err)
	}
	if !apihelpers.IsCRDConditionTrue(crd, apiextensionsv1.Established) {
		t.Fatalf("CRD %s is not Established: %+v", mydemoCRD, crd.Status.Conditions)
	}

	out, err := cp.Kubectl(ctx, "version", "--output=json")
	if err != nil {
		t.Fatal(err)
	}
	var version struct {
		ServerVersion struct {
			GitVersion string `json:"gitVersion"`
		} `json:"serverVersion"`
	}
	if err := json.Unmarshal([]byte(out), &version); err != nil {
		t.Fatalf("decode kubectl version output %q: %v", out, err)
	}
	if version.ServerVersion.GitVersion != wantServerVersion {
		t.Errorf("server version = %q, want %q", version.ServerVersion.GitVersion, wantServerVersion)
	}

	_, cs := controlPlane(t)
	ns := framework.CreateNamespace(t, cs)
	md, err := mydemoClient(t, cp.Config).CrddemoV1().Mydemos(ns).Create(ctx, newMydemo("kubectl-demo"), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create Mydemo: %v", err)
	}
	out, err = cp.Kubectl(ctx, "get", "mydemos", "--all-namespaces", "--no-headers")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, ns) || !strings.Contains(out, md.Name) {
		t.Errorf("kubectl get mydemos -A does not list %s/%s:\n%s", ns, md.Name, out)
	}

	if _, err := cp.Kubectl(ctx, "get", "no-such-resource"); err == nil ||
		!strings.Contains(err.Error(), "no-such-resource") {
		t.Errorf("kubectl error should quote its stderr, got %v", err)
	}
}

func TestGarbageCollection(t *testing.T) {
	cp, cs := controlPlane(t)
	md := mydemoClient(t, cp.Config)

	t.Run("ConfigMapOwnsConfigMap", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		ns := framework.CreateNamespace(t, cs)
		cms := cs.CoreV1().ConfigMaps(ns)
		owner, err := cms.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "owner"},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create owner: %v", err)
		}
		_, err = cms.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{
				Name:            "dependent",
				OwnerReferences: []metav1.OwnerReference{ownerRef("v1", "ConfigMap", owner.Name, owner.UID)},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create dependent: %v", err)
		}
		deleteAndWaitForGC(t, func() error {
			return cms.Delete(ctx, owner.Name, backgroundDeletion())
		}, func() error {
			_, err := cms.Get(ctx, "dependent", metav1.GetOptions{})
			return err
		})
	})

	t.Run("MydemoOwnsService", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		ns := framework.CreateNamespace(t, cs)
		mydemos := md.CrddemoV1().Mydemos(ns)
		owner, err := mydemos.Create(ctx, newMydemo("owner"), metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create Mydemo: %v", err)
		}
		services := cs.CoreV1().Services(ns)
		_, err = services.Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{
				Name: "dependent",
				OwnerReferences: []metav1.OwnerReference{
					ownerRef(crddemov1.SchemeGroupVersion.String(), "Mydemo", owner.Name, owner.UID),
				},
			},
			Spec: corev1.ServiceSpec{
				Ports: []corev1.ServicePort{{
					Port:       8080,
					TargetPort: intstr.FromInt32(8080),
					Protocol:   corev1.ProtocolTCP,
				}},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create Service: %v", err)
		}
		deleteAndWaitForGC(t, func() error {
			return mydemos.Delete(ctx, owner.Name, backgroundDeletion())
		}, func() error {
			_, err := services.Get(ctx, "dependent", metav1.GetOptions{})
			return err
		})
	})
}

func ownerRef(apiVersion, kind, name string, uid types.UID) metav1.OwnerReference {
	return metav1.OwnerReference{
		APIVersion:         apiVersion,
		Kind:               kind,
		Name:               name,
		UID:                uid,
		Controller:         ptr.To(true),
		BlockOwnerDeletion: ptr.To(true),
	}
}

func backgroundDeletion() metav1.DeleteOptions {
	return metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)}
}

// deleteAndWaitForGC deletes the owner and polls until getDependent reports
// NotFound.
func deleteAndWaitForGC(t *testing.T, deleteOwner, getDependent func() error) {
	t.Helper()
	start := time.Now()
	if err := deleteOwner(); err != nil {
		t.Fatalf("delete owner: %v", err)
	}
	deadline := start.Add(gcDeadline)
	for {
		err := getDependent()
		if apierrors.IsNotFound(err) {
			t.Logf("dependent garbage-collected %s after deleting the owner", time.Since(start).Round(time.Millisecond))
			return
		}
		if err != nil {
			t.Fatalf("get dependent: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("dependent still exists %s after deleting its owner", gcDeadline)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestRBACIdentities(t *testing.T) {
	cp, cs := controlPlane(t)
	ctx := t.Context()
	ns := framework.CreateNamespace(t, cs)

	_, err := cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "secret-reader"},
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{""},
			Resources: []string{"secrets"},
			Verbs:     []string{"get", "list"},
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create Role: %v", err)
	}

	t.Run("User", func(t *testing.T) {
		cfg, err := cp.UserConfig("alice", "developers")
		if err != nil {
			t.Fatal(err)
		}
		checkRBAC(t, cs, ns, cfg, rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "alice"})
	})

	t.Run("ServiceAccount", func(t *testing.T) {
		cfg, err := cp.ServiceAccountConfig(t.Context(), ns, "reader")
		if err != nil {
			t.Fatal(err)
		}
		// A second call finds the existing service account.
		if _, err := cp.ServiceAccountConfig(t.Context(), ns, "reader"); err != nil {
			t.Fatal(err)
		}
		checkRBAC(t, cs, ns, cfg, rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "reader", Namespace: ns})
	})
}

// checkRBAC verifies that cfg may not list Secrets in ns (nor anywhere) until
// subject is bound to the secret-reader Role, and may afterwards; the same
// must hold for kubectl run with a kubeconfig written for cfg.
func checkRBAC(t *testing.T, admin kubernetes.Interface, ns string, cfg *rest.Config, subject rbacv1.Subject) {
	t.Helper()
	ctx := t.Context()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("create clientset: %v", err)
	}
	if _, err := cs.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("list Secrets before binding: got %v, want Forbidden", err)
	}

	_, err = admin.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "secret-reader-"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "secret-reader"},
		Subjects:   []rbacv1.Subject{subject},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create RoleBinding: %v", err)
	}
	// The authorizer sees the binding through an informer, a moment later.
	deadline := time.Now().Add(rbacDeadline)
	for {
		_, err := cs.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
		if err == nil {
			break
		}
		if !apierrors.IsForbidden(err) || time.Now().After(deadline) {
			t.Fatalf("list Secrets after binding: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := cs.CoreV1().Secrets(metav1.NamespaceDefault).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("list Secrets outside %s: got %v, want Forbidden", ns, err)
	}

	cp := framework.Get()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := cp.WriteKubeconfig(kubeconfig, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := cp.Kubectl(ctx, "--kubeconfig="+kubeconfig, "get", "secrets", "--namespace="+ns); err != nil {
		t.Errorf("kubectl as %s %s: %v", subject.Kind, subject.Name, err)
	}
	if _, err := cp.Kubectl(ctx, "--kubeconfig="+kubeconfig, "get", "secrets", "--namespace=default"); err == nil ||
		!strings.Contains(err.Error(), "forbidden") {
		t.Errorf("kubectl as %s %s in namespace default: got %v, want forbidden", subject.Kind, subject.Name, err)
	}
}

func TestAPIServerRestart(t *testing.T) {
	cp, cs := controlPlane(t)
	ctx := t.Context()
	ns := framework.CreateNamespace(t, cs)

	before, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "survivor"},
		Data:       map[string]string{"key": "value"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create ConfigMap: %v", err)
	}
	host := cp.Config.Host

	if err := cp.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	shortCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, err = cs.CoreV1().ConfigMaps(ns).Get(shortCtx, before.Name, metav1.GetOptions{})
	cancel()
	if err == nil {
		t.Fatal("the API server still answers after StopAPIServer")
	}

	start := time.Now()
	if err := cp.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("kube-apiserver restarted in %s", time.Since(start).Round(time.Millisecond))
	if cp.Config.Host != host {
		t.Errorf("host changed across restart: %s -> %s", host, cp.Config.Host)
	}

	after, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, before.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get ConfigMap after restart with the old client: %v", err)
	}
	if after.UID != before.UID || after.Data["key"] != "value" {
		t.Errorf("ConfigMap changed across restart: before %+v, after %+v", before, after)
	}
	if _, err := cp.Kubectl(ctx, "get", "mydemos", "--all-namespaces"); err != nil {
		t.Errorf("kubectl after restart: %v", err)
	}
}
