package node

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/generated/clientset/versioned"
	"github.com/crddemo/crddemo/test/framework"
	"github.com/crddemo/crddemo/test/servers"
)

// redisNamespace is where TestRedisThroughClusterIP installs the chart: a
// namespace of its own, so that it never waits for another test's to go.
const redisNamespace = "crddemo-redis"

// TestRedisThroughClusterIP: a Mydemo with a Redis probe (role master)
// whose endpoint is a real redis-server in a test host behind the node
// goes Ready under the controller running as a Pod, and redis-cli on the
// node gets PONG through the Mydemo's ClusterIP. When the server becomes a
// replica, the probe fails on ROLE though the port still answers, and the
// Mydemo is no longer Ready; once it is master again, it is Ready and
// answers through the ClusterIP again.
func TestRedisThroughClusterIP(t *testing.T) {
	cp := framework.Get()
	node := cp.Node()
	cs := kubernetes.NewForConfigOrDie(cp.Config)
	crd := versioned.NewForConfigOrDie(cp.Config)
	ctx := context.Background()
	redisCLI := lookRedisCLI(t)

	installChart(t, cs, redisNamespace)

	host := newHost(t, ctx, node)
	redis := servers.StartRedis(t, host, host.Addr(1), servers.RedisOptions{})

	ns := framework.CreateNamespace(t, cs)
	md := &crddemov1.Mydemo{
		ObjectMeta: metav1.ObjectMeta{Name: "redis", Namespace: ns},
		Spec: crddemov1.MydemoSpec{
			IP:   redis.Addr.Addr().String(),
			Port: int32(redis.Addr.Port()),
			Probe: &crddemov1.Probe{
				Type:             crddemov1.ProbeTypeRedis,
				Redis:            &crddemov1.RedisProbe{Role: crddemov1.RedisRoleMaster},
				PeriodSeconds:    int32(probePeriod / time.Second),
				TimeoutSeconds:   1,
				FailureThreshold: failureThreshold,
			},
		},
	}
	if _, err := crd.CrddemoV1().Mydemos(ns).Create(ctx, md, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Mydemo: %v", err)
	}
	clusterIP := waitMydemoReady(t, crd, ns, md.Name)
	port := strconv.Itoa(int(redis.Addr.Port()))

	// ping runs redis-cli PING against the ClusterIP from inside the
	// node's network namespace, as a Pod's client would.
	ping := func() (string, error) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "nsenter", "--net="+node.NetNS, redisCLI, "-h", clusterIP, "-p", port, "PING").CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	framework.Eventually(t, converge, "redis-cli PING through "+clusterIP, func() (bool, string) {
		out, err := ping()
		return err == nil && out == "PONG", fmt.Sprintf("%q %v", out, err)
	})

	// The server turns replica (of a master that does not exist): it
	// still accepts connections and answers PING, which a TCP probe would
	// pass, but ROLE fails the probe; the Mydemo is no longer Ready and
	// kube-proxy turns redis-cli away. The master it tries to reach is
	// the namespace's own loopback, where nothing listens.
	if _, err := redis.Do(ctx, "REPLICAOF", "127.0.0.1", "1"); err != nil {
		t.Fatal(err)
	}
	const wrongRole = "Redis: role is replica, want master"
	framework.Eventually(t, converge, "Mydemo "+md.Name+" not Ready with "+strconv.Quote(wrongRole), func() (bool, string) {
		got, err := crd.CrddemoV1().Mydemos(ns).Get(ctx, md.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(got.Status.Conditions, crddemov1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionFalse && len(got.Status.Endpoints) == 1 &&
				got.Status.Endpoints[0].Message == wrongRole,
			fmt.Sprintf("conditions %v endpoints %+v", got.Status.Conditions, got.Status.Endpoints)
	})
	framework.Eventually(t, converge, "redis-cli PING through "+clusterIP+" turned away", func() (bool, string) {
		out, err := ping()
		return err != nil && out != "PONG", fmt.Sprintf("%q %v", out, err)
	})

	// Master again: Ready, and PONG through the ClusterIP.
	if _, err := redis.Do(ctx, "REPLICAOF", "NO", "ONE"); err != nil {
		t.Fatal(err)
	}
	waitMydemoReady(t, crd, ns, md.Name)
	framework.Eventually(t, converge, "redis-cli PING through "+clusterIP+" again", func() (bool, string) {
		out, err := ping()
		return err == nil && out == "PONG", fmt.Sprintf("%q %v", out, err)
	})
}

// installChart installs the chart with one replica of the locally built
// image into namespace, waits until it runs, and uninstalls it when the
// test ends.
func installChart(t *testing.T, cs kubernetes.Interface, namespace string) {
	t.Helper()
	cp := framework.Get()
	helmBin := filepath.Join(binDir(t), "helm")
	helm := func(args ...string) error {
		args = append(args, "--kubeconfig", cp.KubeconfigPath)
		cmd := exec.Command(helmBin, args...)
		// Helm's caches and config stay in the test's own directory.
		home := t.TempDir()
		cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := helm("install", "mydemo", chartDir, "--namespace", namespace, "--create-namespace",
		"--set", "image.tag=local", "--set", "image.pullPolicy=Never", "--set", "replicas=1",
		"--wait", "--timeout", "3m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := helm("uninstall", "mydemo", "--namespace", namespace, "--wait", "--timeout", "2m"); err != nil {
			t.Error(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := cs.CoreV1().Namespaces().Delete(ctx, namespace, metav1.DeleteOptions{}); err != nil {
			t.Errorf("delete %s: %v", namespace, err)
		}
	})
}
