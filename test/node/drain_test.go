package node

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/generated/clientset/versioned"
	"github.com/crddemo/crddemo/test/framework"
	"github.com/crddemo/crddemo/test/testhost"
)

// whoAmIServer serves a port in a test host: it greets every connection
// with the address it was made to (the endpoint kube-proxy chose), one
// line, then echoes what it reads, so a client learns its endpoint and can
// tell a connection that still works from one that does not.
type whoAmIServer struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func serveWhoAmI(t *testing.T, host *testhost.Host, port int) {
	ln, err := host.Listen(port)
	if err != nil {
		t.Fatal(err)
	}
	s := &whoAmIServer{ln: ln}
	go s.run()
	t.Cleanup(s.close)
}

func (s *whoAmIServer) run() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		go func() {
			fmt.Fprintln(c, localAddr(c))
			io.Copy(c, c)
			c.Close()
		}()
	}
}

func (s *whoAmIServer) close() {
	s.ln.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
}

// connectWhoAmI opens a connection from the node and returns it with the
// endpoint that answered it.
func connectWhoAmI(node *framework.Node, target string) (net.Conn, *bufio.Reader, netip.Addr, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, err := node.Dial(ctx, "tcp4", target)
	if err != nil {
		return nil, nil, netip.Addr{}, err
	}
	c.SetReadDeadline(time.Now().Add(time.Second))
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		c.Close()
		return nil, nil, netip.Addr{}, err
	}
	c.SetReadDeadline(time.Time{})
	addr, err := netip.ParseAddr(strings.TrimSpace(line))
	if err != nil {
		c.Close()
		return nil, nil, netip.Addr{}, err
	}
	return c, r, addr, nil
}

// testDrain: a Mydemo of two endpoints; with one drained, kube-proxy sends
// every new connection through the ClusterIP to the other, while a TCP
// connection established to the drained one before keeps carrying data.
func testDrain(t *testing.T, cs kubernetes.Interface, crd versioned.Interface, node *framework.Node, host *testhost.Host, ns string) {
	const port = 8082
	drained, other := host.Addr(20), host.Addr(21)
	serveWhoAmI(t, host, port)
	ctx := context.Background()
	md := &crddemov1.Mydemo{
		ObjectMeta: metav1.ObjectMeta{Name: "drain", Namespace: ns},
		Spec: crddemov1.MydemoSpec{
			Endpoints: []crddemov1.Endpoint{{IP: drained.String()}, {IP: other.String()}},
			Port:      port,
			Probe: &crddemov1.Probe{
				Type:             crddemov1.ProbeTypeTCP,
				PeriodSeconds:    int32(probePeriod / time.Second),
				TimeoutSeconds:   1,
				FailureThreshold: failureThreshold,
			},
		},
	}
	clusterIP := createUntilClusterIP(t, crd, md, "Mydemo drain 2/2 ready", endpointsReady("2/2"))
	target := net.JoinHostPort(clusterIP, strconv.Itoa(port))

	// A connection that kube-proxy sent to the endpoint about to drain.
	var held net.Conn
	var heldReader *bufio.Reader
	framework.Eventually(t, converge, "a connection through "+target+" to "+drained.String(), func() (bool, string) {
		c, r, addr, err := connectWhoAmI(node, target)
		if err != nil {
			return false, err.Error()
		}
		if addr != drained {
			c.Close()
			return false, "reached " + addr.String()
		}
		held, heldReader = c, r
		return true, ""
	})
	t.Cleanup(func() { held.Close() })

	got, err := crd.CrddemoV1().Mydemos(ns).Get(ctx, md.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got.Spec.Endpoints[0].Drain = true
	if _, err := crd.CrddemoV1().Mydemos(ns).Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	drainedAt := time.Now()

	// sends opens n new connections and counts the endpoints they reach.
	sends := func(n int) (map[netip.Addr]int, error) {
		out := map[netip.Addr]int{}
		for range n {
			c, _, addr, err := connectWhoAmI(node, target)
			if err != nil {
				return out, err
			}
			c.Close()
			out[addr]++
		}
		return out, nil
	}
	framework.Eventually(t, converge, "new connections through "+target+" reach "+other.String()+" only", func() (bool, string) {
		got, err := sends(20)
		return err == nil && got[drained] == 0 && got[other] == 20, fmt.Sprintf("%v %v", got, err)
	})
	t.Logf("MEASURE new connections left the drained endpoint after %s", time.Since(drainedAt).Round(time.Millisecond))
	if got, err := sends(40); err != nil || got[drained] != 0 {
		t.Errorf("40 new connections with %s drained: %v, %v", drained, got, err)
	}
	slice, err := cs.DiscoveryV1().EndpointSlices(ns).Get(ctx, "drain-ipv4", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ep := range slice.Endpoints {
		if ep.Addresses[0] == drained.String() && (*ep.Conditions.Ready || !*ep.Conditions.Serving || !*ep.Conditions.Terminating) {
			t.Errorf("drained endpoint's conditions: %+v", ep.Conditions)
		}
	}

	// The connection established before the drain still carries data
	// both ways, after new connections have stopped reaching its endpoint.
	held.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintln(held, "still there"); err != nil {
		t.Fatalf("writing on the established connection after the drain: %v", err)
	}
	line, err := heldReader.ReadString('\n')
	if err != nil || line != "still there\n" {
		t.Fatalf("echo on the established connection after the drain: %q, %v", line, err)
	}
}
