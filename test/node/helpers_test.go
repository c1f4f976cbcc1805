package node

import (
	"context"
	"os/exec"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/generated/clientset/versioned"
	"github.com/crddemo/crddemo/test/framework"
	"github.com/crddemo/crddemo/test/testhost"
)

// newHost is a test host behind node, closed when the test ends.
func newHost(t *testing.T, ctx context.Context, node *framework.Node) *testhost.Host {
	t.Helper()
	host, err := testhost.New(ctx, testhost.Options{Parent: node.Name})
	if err != nil {
		t.Fatalf("test host: %v", err)
	}
	t.Cleanup(func() {
		if err := host.Close(); err != nil {
			t.Error(err)
		}
	})
	return host
}

// lookRedisCLI is the path of redis-cli.
func lookRedisCLI(t *testing.T) string {
	t.Helper()
	redisCLI, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatalf("redis-cli (from redis-tools, which redis-server depends on): %v", err)
	}
	return redisCLI
}

// createUntilClusterIP creates md and waits, within converge, until it has
// a cluster IP and done accepts it (done also says what it saw); it
// returns the cluster IP. what names the wait in a failure.
func createUntilClusterIP(t *testing.T, crd versioned.Interface, md *crddemov1.Mydemo, what string, done func(*crddemov1.Mydemo) (bool, string)) string {
	t.Helper()
	ctx := context.Background()
	if _, err := crd.CrddemoV1().Mydemos(md.Namespace).Create(ctx, md, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Mydemo: %v", err)
	}
	var clusterIP string
	framework.Eventually(t, converge, what, func() (bool, string) {
		got, err := crd.CrddemoV1().Mydemos(md.Namespace).Get(ctx, md.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		clusterIP = got.Status.ClusterIP
		ok, saw := done(got)
		return ok && clusterIP != "", saw
	})
	return clusterIP
}

// endpointsReady accepts a Mydemo with want ready endpoints ("2/2").
func endpointsReady(want string) func(*crddemov1.Mydemo) (bool, string) {
	return func(md *crddemov1.Mydemo) (bool, string) {
		return md.Status.EndpointsReady == want, md.Status.EndpointsReady
	}
}
