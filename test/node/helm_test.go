package node

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/generated/clientset/versioned"
	"github.com/crddemo/crddemo/test/framework"
)

const (
	chartDir      = "../../charts/mydemo-controller"
	helmNamespace = "crddemo-helm"
)

// TestHelmChart lints the chart, checks that its default rendering holds
// the same objects as deploy/ (and, with sharding.enabled=false, as deploy/
// with its leader-election component), applies the rendering with a
// server-side dry run, and installs it on the real node, where its two
// sharded replicas each hold a share and together publish every Mydemo.
func TestHelmChart(t *testing.T) {
	cp := framework.Get()
	cs := kubernetes.NewForConfigOrDie(cp.Config)
	ctx := context.Background()
	helmBin := filepath.Join(binDir(t), "helm")
	helm := func(args ...string) string {
		t.Helper()
		args = append(args, "--kubeconfig", cp.KubeconfigPath)
		cmd := exec.Command(helmBin, args...)
		// Helm's caches and config stay in the test's own directory.
		home := t.TempDir()
		cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	t.Run("Lint", func(t *testing.T) {
		helm("lint", "--strict", chartDir)
	})

	t.Run("CRDIsTheGeneratedOne", func(t *testing.T) {
		files, err := filepath.Glob("../../crd/*.yaml")
		if err != nil || len(files) == 0 {
			t.Fatalf("crd/*.yaml: %v %v", files, err)
		}
		for _, f := range files {
			want, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(chartDir, "crds", filepath.Base(f)))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("charts/mydemo-controller/crds differs from crd/: copy %s there (make generate does)", f)
			}
		}
	})

	// The default rendering is deploy/ (sharding); with
	// sharding.enabled=false it is deploy/ with the leader-election
	// component, as deploy/README.md tells a user to write it.
	for _, c := range []struct {
		name, kustomization string
		set                 []string
	}{
		{"SameObjectsAsDeploy", "../../deploy", nil},
		{"LeaderElectionSameObjectsAsDeployComponent", "testdata/leader-election", []string{"--set", "sharding.enabled=false"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rendered := decodeObjects(t, helm(append([]string{"template", "mydemo", chartDir, "--namespace", systemNamespace,
				"--include-crds", "--set", "createNamespace=true"}, c.set...)...))
			kustomized, err := cp.Kubectl(ctx, "kustomize", c.kustomization)
			if err != nil {
				t.Fatalf("kubectl kustomize: %v", err)
			}
			deploy := decodeObjects(t, kustomized)
			if got, want := objectKeys(rendered), objectKeys(deploy); !reflect.DeepEqual(got, want) {
				t.Fatalf("chart renders %v, %s has %v", got, c.kustomization, want)
			}
			// What matters for behaviour must be equal: the Pod template, the
			// permissions, the Service and PDB specs, the namespace labels.
			for key, d := range deploy {
				r := rendered[key]
				for _, path := range [][]string{{"spec"}, {"rules"}, {"roleRef"}, {"subjects"}, {"metadata", "labels"}} {
					dv, _, _ := unstructured.NestedFieldNoCopy(d.Object, path...)
					rv, _, _ := unstructured.NestedFieldNoCopy(r.Object, path...)
					if strings.HasPrefix(key, "CustomResourceDefinition/") && path[0] == "metadata" {
						continue
					}
					if !reflect.DeepEqual(dv, rv) {
						t.Errorf("%s %s: chart %v\n%s %v", key, strings.Join(path, "."), rv, c.kustomization, dv)
					}
				}
			}
		})
	}

	t.Run("ServerSideDryRun", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "rendered.yaml")
		out := helm("template", "mydemo", chartDir, "--namespace", helmNamespace, "--include-crds", "--set", "createNamespace=true")
		if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		// The namespace first: namespaced objects fail a dry run until it
		// exists.
		if _, err := cs.CoreV1().Namespaces().Get(ctx, helmNamespace, metav1.GetOptions{}); err == nil {
			t.Fatalf("namespace %s exists before the test", helmNamespace)
		}
		if res, err := cp.Kubectl(ctx, "create", "namespace", helmNamespace); err != nil {
			t.Fatalf("%v: %s", err, res)
		}
		defer cs.CoreV1().Namespaces().Delete(ctx, helmNamespace, metav1.DeleteOptions{})
		if res, err := cp.Kubectl(ctx, "apply", "--server-side", "--dry-run=server", "-f", file); err != nil {
			t.Fatalf("server-side dry run: %v\n%s", err, res)
		}
	})

	t.Run("InstallOnNode", func(t *testing.T) {
		framework.Eventually(t, 2*time.Minute, "namespace "+helmNamespace+" gone", func() (bool, string) {
			_, err := cs.CoreV1().Namespaces().Get(ctx, helmNamespace, metav1.GetOptions{})
			return err != nil, fmt.Sprint(err)
		})
		// The default values: two sharded replicas.
		helm("install", "mydemo", chartDir, "--namespace", helmNamespace, "--create-namespace",
			"--set", "image.tag=local", "--set", "image.pullPolicy=Never",
			"--wait", "--timeout", "3m")
		defer func() {
			helm("uninstall", "mydemo", "--namespace", helmNamespace, "--wait", "--timeout", "2m")
			cs.CoreV1().Namespaces().Delete(ctx, helmNamespace, metav1.DeleteOptions{})
		}()
		crd := versioned.NewForConfigOrDie(cp.Config)
		ns := framework.CreateNamespace(t, cs)
		// Enough Mydemos that each of the two replicas holds some: with
		// 16, rendezvous hashing gives one replica all of them with a
		// probability of 2/2^16.
		const n = 16
		for i := range n {
			md := &crddemov1.Mydemo{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("helm-%d", i), Namespace: ns},
				// Probing off: nothing is dialled.
				Spec: crddemov1.MydemoSpec{IP: fmt.Sprintf("10.250.255.%d", i+1), Port: 80, Probe: &crddemov1.Probe{Type: crddemov1.ProbeTypeNone}},
			}
			if _, err := crd.CrddemoV1().Mydemos(ns).Create(ctx, md, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		framework.Eventually(t, converge, "the Helm-installed controller to publish every Mydemo", func() (bool, string) {
			list, err := crd.CrddemoV1().Mydemos(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err.Error()
			}
			published := 0
			for _, md := range list.Items {
				if c := meta.FindStatusCondition(md.Status.Conditions, crddemov1.ConditionPublished); c != nil && c.Status == metav1.ConditionTrue {
					published++
				}
			}
			return published == n, fmt.Sprintf("%d of %d published", published, n)
		})
		waitShares(t, cs, crd, metricsClient(cp.Node()), helmNamespace, 2, podsReady)
	})
}

// decodeObjects parses a YAML stream into objects keyed by
// kind/namespace/name.
func decodeObjects(t *testing.T, stream string) map[string]*unstructured.Unstructured {
	t.Helper()
	out := map[string]*unstructured.Unstructured{}
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(stream), 4096)
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if obj == nil {
			continue
		}
		u := &unstructured.Unstructured{Object: obj}
		out[u.GetKind()+"/"+u.GetNamespace()+"/"+u.GetName()] = u
	}
	return out
}

func objectKeys(m map[string]*unstructured.Unstructured) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
