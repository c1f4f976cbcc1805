package node

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/generated/clientset/versioned"
	"github.com/crddemo/crddemo/test/framework"
	"github.com/crddemo/crddemo/test/testhost"
)

// Zones of the PreferSameZone case: the node's own and another one.
const (
	nodeZone  = "zone-node"
	otherZone = "zone-other"
)

// sameEndpointInARow is how many new connections in a row must reach the
// expected endpoint before routing counts as settled there: kube-proxy
// picks an endpoint at random per connection, so with two endpoints
// eligible, twenty in a row to one of them happens by chance once in a
// million.
const sameEndpointInARow = 20

// listenAt serves whoAmI on addr:port inside host's namespace, bound to
// that address alone, so that one endpoint of the host can stop answering
// while another keeps answering on the same port.
func listenAt(t *testing.T, host *testhost.Host, addr netip.Addr, port int) *whoAmIServer {
	t.Helper()
	var ln net.Listener
	if err := host.Do(func() error {
		var err error
		ln, err = net.Listen("tcp4", net.JoinHostPort(addr.String(), strconv.Itoa(port)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	s := &whoAmIServer{ln: ln}
	go s.run()
	t.Cleanup(s.close)
	return s
}

// labelNodeZone sets the node's topology.kubernetes.io/zone label to zone
// ("" removes it).
func labelNodeZone(cs kubernetes.Interface, node, zone string) error {
	var value any
	if zone != "" {
		value = zone
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]any{corev1.LabelTopologyZone: value}}})
	if err != nil {
		return err
	}
	_, err = cs.CoreV1().Nodes().Patch(context.Background(), node, types.MergePatchType, patch, metav1.PatchOptions{})
	return err
}

// waitRoutedTo waits, up to timeout, until sameEndpointInARow new
// connections in a row through target reach want, and returns how long
// it took until the first of them.
func waitRoutedTo(t *testing.T, node *framework.Node, target string, want netip.Addr, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var firstOK time.Duration
	inARow := 0
	last := ""
	for inARow < sameEndpointInARow {
		if time.Since(start) > timeout {
			t.Fatalf("new connections through %s still not all reaching %s after %s (last: %s)", target, want, time.Since(start), last)
		}
		c, _, addr, err := connectWhoAmI(node, target)
		if err != nil {
			inARow, last = 0, err.Error()
			time.Sleep(5 * time.Millisecond)
			continue
		}
		c.Close()
		if addr != want {
			// A pause, so that a wait that fails does not spend the
			// node's ephemeral ports on connections in TIME_WAIT.
			inARow, last = 0, "reached "+addr.String()
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if inARow == 0 {
			firstOK = time.Since(start)
		}
		inARow++
	}
	return firstOK
}

// testPreferSameZone: the node is in nodeZone and a PreferSameZone Mydemo
// has one endpoint there and one in otherZone. kube-proxy sends new
// connections through the ClusterIP only to the node's zone; when that
// endpoint fails its probe, to the other zone within the probe bound plus
// the slack; when it answers again, back to the node's zone within a
// probe period plus the slack.
func testPreferSameZone(t *testing.T, cs kubernetes.Interface, crd versioned.Interface, node *framework.Node, host *testhost.Host, ns string) {
	const port = 8084
	local, remote := host.Addr(30), host.Addr(31)
	if err := labelNodeZone(cs, node.Name, nodeZone); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := labelNodeZone(cs, node.Name, ""); err != nil {
			t.Error(err)
		}
	})
	localServer := listenAt(t, host, local, port)
	listenAt(t, host, remote, port)

	md := &crddemov1.Mydemo{
		ObjectMeta: metav1.ObjectMeta{Name: "zones", Namespace: ns},
		Spec: crddemov1.MydemoSpec{
			TrafficDistribution: ptr.To(corev1.ServiceTrafficDistributionPreferSameZone),
			Endpoints:           []crddemov1.Endpoint{{IP: local.String(), Zone: nodeZone}, {IP: remote.String(), Zone: otherZone}},
			Port:                port,
			Probe: &crddemov1.Probe{
				Type:             crddemov1.ProbeTypeTCP,
				PeriodSeconds:    int32(probePeriod / time.Second),
				TimeoutSeconds:   1,
				FailureThreshold: failureThreshold,
			},
		},
	}
	clusterIP := createUntilClusterIP(t, crd, md, "Mydemo zones 2/2 ready with zone hints", func(got *crddemov1.Mydemo) (bool, string) {
		hints := meta.FindStatusCondition(got.Status.Conditions, crddemov1.ConditionZoneHints)
		return got.Status.EndpointsReady == "2/2" && hints != nil && hints.Status == metav1.ConditionTrue,
			fmt.Sprintf("endpoints %s, ZoneHints %+v", got.Status.EndpointsReady, hints)
	})
	target := net.JoinHostPort(clusterIP, strconv.Itoa(port))

	// Only the node's zone, once kube-proxy has the hints and the node's
	// zone.
	waitRoutedTo(t, node, target, local, converge)
	for range 5 * sameEndpointInARow {
		c, _, addr, err := connectWhoAmI(node, target)
		if err != nil {
			t.Fatalf("a connection through %s: %v", target, err)
		}
		c.Close()
		if addr != local {
			t.Fatalf("a new connection through %s reached %s in the other zone while %s in the node's zone is ready", target, addr, local)
		}
	}

	// The node's zone fails: its endpoint loses readiness and its hint,
	// no ready endpoint is hinted for the node's zone, and kube-proxy
	// spreads over the rest, the other zone.
	localServer.close()
	failBound := probePeriod*failureThreshold + slack
	took := waitRoutedTo(t, node, target, remote, failBound+converge)
	t.Logf("MEASURE new connections reach the other zone %s after the node's zone failed (bound %s)", took.Round(time.Millisecond), failBound)
	if took > failBound {
		t.Errorf("new connections reached the other zone after %s, want within %s", took, failBound)
	}

	// Back: routed to the node's zone only again.
	listenAt(t, host, local, port)
	backBound := probePeriod + slack
	took = waitRoutedTo(t, node, target, local, backBound+converge)
	t.Logf("MEASURE new connections back in the node's zone %s after it answered again (bound %s)", took.Round(time.Millisecond), backBound)
	if took > backBound {
		t.Errorf("new connections came back to the node's zone after %s, want within %s", took, backBound)
	}
}
