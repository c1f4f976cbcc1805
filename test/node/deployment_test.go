package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/generated/clientset/versioned"
	"github.com/crddemo/crddemo/test/framework"
	"github.com/crddemo/crddemo/test/testhost"
)

// Names deploy/ defines.
const (
	systemNamespace = "crddemo-system"
	deploymentName  = "mydemo-controller"
	podSelector     = "app.kubernetes.io/name=mydemo-controller"
)

const (
	// podsReady bounds how long the two replicas may take to be Ready:
	// containers start, and the readiness probe (period 10 s in deploy/)
	// passes once.
	podsReady = 2 * time.Minute
	// converge bounds how long the running leader may take to publish a
	// Mydemo and kube-proxy to program it.
	converge = 60 * time.Second
)

// The probe settings of the data-plane Mydemos: short, so the measured
// transitions take seconds.
const (
	probePeriod      = 1 * time.Second
	failureThreshold = 2
	// slack is the margin the issue allows on top of the probe's own
	// timing: one second, for kube-proxy's sync and a busy machine.
	slack = 1 * time.Second
)

// TestDeployment applies deploy/ (with the locally built image) to the real
// node and checks it end to end: two Ready replicas sharing the Mydemos
// (--sharding), each holding a share; a Mydemo published and routed by
// kube-proxy with the controller's probes leaving from the Pod network;
// kube-proxy rejecting new connections once the test host stops answering
// and routing them again once it answers, with short probe settings and
// with the defaults (edge interval); UDP traffic through a UDP Mydemo;
// zone-local routing of a PreferSameZone Mydemo; and a replica's share
// moving to the other, without an endpoint going not ready, when its Pod
// is deleted and when its process is killed.
func TestDeployment(t *testing.T) {
	cp := framework.Get()
	node := cp.Node()
	cs := kubernetes.NewForConfigOrDie(cp.Config)
	crd := versioned.NewForConfigOrDie(cp.Config)
	ctx := context.Background()

	out, err := cp.Kubectl(ctx, "apply", "--server-side", "-k", "testdata/deploy-local")
	if err != nil {
		t.Fatalf("kubectl apply -k: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		// Deleting the namespace stops the Pods; the node's Stop would
		// kill them anyway.
		if err := cs.CoreV1().Namespaces().Delete(ctx, systemNamespace, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete %s: %v", systemNamespace, err)
		}
		// The cluster-wide objects too (roles, admission policies), so
		// that the Helm test can install the chart's and later tests
		// meet no policy of ours. The CRDs stay: the framework installed
		// them.
		out, err := cp.Kubectl(ctx, "delete", "--ignore-not-found", "--wait",
			"clusterroles,clusterrolebindings,validatingadmissionpolicies,validatingadmissionpolicybindings",
			"-l", "app.kubernetes.io/part-of=crddemo")
		if err != nil {
			t.Errorf("deleting the cluster-wide objects of deploy/: %v\n%s", err, out)
		}
	})
	waitReplicas(t, cs, node.Name)

	host := newHost(t, ctx, node)
	const port = 8080
	if err := host.Serve(port); err != nil {
		t.Fatal(err)
	}
	ns := framework.CreateNamespace(t, cs)

	md := &crddemov1.Mydemo{
		ObjectMeta: metav1.ObjectMeta{Name: "tcp", Namespace: ns},
		Spec: crddemov1.MydemoSpec{
			IP:   host.Addr(1).String(),
			Port: port,
			Probe: &crddemov1.Probe{
				Type:             crddemov1.ProbeTypeTCP,
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
	target := net.JoinHostPort(clusterIP, strconv.Itoa(port))

	t.Run("ServiceRoutesToTestHost", func(t *testing.T) {
		framework.Eventually(t, converge, "a connection to "+target+" from the node", func() (bool, string) {
			err := dialOnce(node, "tcp4", target)
			return err == nil, fmt.Sprint(err)
		})
	})

	t.Run("ProbesLeaveFromPodNetwork", func(t *testing.T) {
		var peers []netip.Addr
		for _, p := range host.Peers(port) {
			if framework.PodCIDR.Contains(p) {
				return
			}
			peers = append(peers, p)
		}
		t.Fatalf("no connection to the test host came from the Pod network %s; sources: %v", framework.PodCIDR, peers)
	})

	// Two ways for the test host to stop answering. In both, a refused
	// connection can only come from kube-proxy's reject rule for a Service
	// without ready endpoints, never from the test host itself.
	timeout := time.Duration(md.Spec.Probe.TimeoutSeconds) * time.Second
	t.Run("RejectedWhenRefusingRoutedWhenBack", func(t *testing.T) {
		refuse, answer := refusing(t, host, port)
		measureReject(t, node, target, probePeriod*failureThreshold+slack, probePeriod+slack, refuse, answer)
	})
	t.Run("RejectedWhenBlackHoledRoutedWhenBack", func(t *testing.T) {
		// The test host answers nothing: each failing probe also waits out
		// its timeout, once more than the refusing case.
		measureReject(t, node, target, probePeriod*failureThreshold+timeout+slack, probePeriod+slack, host.BlackHole, host.Restore)
	})
	t.Run("DefaultProbeEdgeIntervalRejectedRoutedWhenBack", func(t *testing.T) {
		testDefaultProbeEdgeInterval(t, crd, node, host, ns)
	})

	t.Run("UDP", func(t *testing.T) {
		const udpPort = 5353
		udpIP := host.Addr(2)
		var pc net.PacketConn
		err := host.Do(func() error {
			var err error
			// Bound to the Mydemo's address, not 0.0.0.0: an answer from an
			// unbound socket would leave from the veth's address, which
			// the node's conntrack cannot match to the client's flow.
			pc, err = net.ListenPacket("udp4", net.JoinHostPort(udpIP.String(), strconv.Itoa(udpPort)))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close() })
		go echo(pc)
		udp := &crddemov1.Mydemo{
			ObjectMeta: metav1.ObjectMeta{Name: "udp", Namespace: ns},
			Spec: crddemov1.MydemoSpec{
				IP:       udpIP.String(),
				Port:     udpPort,
				Protocol: crddemov1.Protocol(corev1.ProtocolUDP),
			},
		}
		if _, err := crd.CrddemoV1().Mydemos(ns).Create(ctx, udp, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create Mydemo: %v", err)
		}
		ip := waitMydemoReady(t, crd, ns, udp.Name)
		udpTarget := net.JoinHostPort(ip, strconv.Itoa(udpPort))
		begin := time.Now()
		framework.Eventually(t, converge, "a UDP answer through "+udpTarget, func() (bool, string) {
			err := udpRoundTrip(node, udpTarget, "ping")
			return err == nil, fmt.Sprint(err)
		})
		t.Logf("MEASURE UDP answer through the ClusterIP %s after %s from Ready", udpTarget, time.Since(begin).Round(time.Millisecond))
	})

	t.Run("SeveralEndpointsHTTPProbeOnlyReadyGetTraffic", func(t *testing.T) {
		testOnlyReadyEndpointsGetTraffic(t, crd, node, host, ns)
	})

	t.Run("DrainedEndpointNoNewConnectionsEstablishedKeepWorking", func(t *testing.T) {
		testDrain(t, cs, crd, node, host, ns)
	})

	t.Run("PreferSameZoneNodeZoneOnlyOtherZoneWhenItFails", func(t *testing.T) {
		testPreferSameZone(t, cs, crd, node, host, ns)
	})

	t.Run("ShareMovesWhenAReplicaIsLost", func(t *testing.T) {
		testShareMoves(t, cs, crd, node, host, ns)

		// The replicas still reconcile: a new Mydemo gets published
		// and routed.
		md := &crddemov1.Mydemo{
			ObjectMeta: metav1.ObjectMeta{Name: "after-moves", Namespace: ns},
			Spec: crddemov1.MydemoSpec{
				IP: host.Addr(3).String(), Port: port,
				Probe: &crddemov1.Probe{Type: crddemov1.ProbeTypeTCP, PeriodSeconds: 1, TimeoutSeconds: 1, FailureThreshold: 1},
			},
		}
		if _, err := crd.CrddemoV1().Mydemos(ns).Create(ctx, md, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		ip := waitMydemoReady(t, crd, ns, md.Name)
		target := net.JoinHostPort(ip, strconv.Itoa(port))
		framework.Eventually(t, converge, "a connection to "+target, func() (bool, string) {
			err := dialOnce(node, "tcp4", target)
			return err == nil, fmt.Sprint(err)
		})
	})
}

// healthServer is an HTTP server in a test host that answers /healthz
// with 200 or 503 per destination address, and counts the connections
// that do not come from the Pod network: the client's, through kube-proxy.
type healthServer struct {
	mu      sync.Mutex
	healthy map[netip.Addr]bool
	traffic map[netip.Addr]int
}

func (h *healthServer) set(a netip.Addr, healthy bool) {
	h.mu.Lock()
	h.healthy[a] = healthy
	h.mu.Unlock()
}

func (h *healthServer) counts() map[netip.Addr]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[netip.Addr]int{}
	for a, n := range h.traffic {
		out[a] = n
	}
	return out
}

func localAddr(c net.Conn) netip.Addr {
	ap, _ := netip.ParseAddrPort(c.LocalAddr().String())
	return ap.Addr()
}

func (h *healthServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ap, _ := netip.ParseAddrPort(r.Context().Value(http.LocalAddrContextKey).(net.Addr).String())
	h.mu.Lock()
	ok := h.healthy[ap.Addr()]
	h.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// countingListener counts accepted connections by destination, leaving
// out the probes (from the Pod network).
type countingListener struct {
	net.Listener
	h *healthServer
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		if ap, perr := netip.ParseAddrPort(c.RemoteAddr().String()); perr == nil && !framework.PodCIDR.Contains(ap.Addr()) {
			l.h.mu.Lock()
			l.h.traffic[localAddr(c)]++
			l.h.mu.Unlock()
		}
	}
	return c, err
}

// testOnlyReadyEndpointsGetTraffic: a Mydemo with two endpoints and an
// HTTP probe; kube-proxy sends new connections to the ready endpoint
// only, and when the two swap health, traffic follows within period ×
// failureThreshold plus a second.
func testOnlyReadyEndpointsGetTraffic(t *testing.T, crd versioned.Interface, node *framework.Node, host *testhost.Host, ns string) {
	const httpPort = 8081
	a, b := host.Addr(10), host.Addr(11)
	hs := &healthServer{healthy: map[netip.Addr]bool{a: true, b: false}, traffic: map[netip.Addr]int{}}
	ln, err := host.Listen(httpPort)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: hs, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(countingListener{ln, hs})
	t.Cleanup(func() { srv.Close() })

	md := &crddemov1.Mydemo{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: crddemov1.MydemoSpec{
			Endpoints: []crddemov1.Endpoint{{IP: a.String()}, {IP: b.String()}},
			Ports:     []crddemov1.Port{{Name: "http", Port: httpPort, AppProtocol: ptr.To("http")}},
			Probe: &crddemov1.Probe{
				Type:             crddemov1.ProbeTypeHTTP,
				HTTP:             &crddemov1.HTTPProbe{Path: "/healthz"},
				PeriodSeconds:    int32(probePeriod / time.Second),
				TimeoutSeconds:   1,
				FailureThreshold: failureThreshold,
			},
		},
	}
	clusterIP := createUntilClusterIP(t, crd, md, "Mydemo web 1/2 ready", endpointsReady("1/2"))
	target := net.JoinHostPort(clusterIP, strconv.Itoa(httpPort))

	// sends makes n connections through the ClusterIP and returns how
	// many reached each endpoint.
	sends := func(n int) map[netip.Addr]int {
		before := hs.counts()
		for range n {
			if err := dialOnce(node, "tcp4", target); err != nil {
				t.Fatalf("connection to %s: %v", target, err)
			}
		}
		time.Sleep(100 * time.Millisecond) // the last accepts
		after := hs.counts()
		return map[netip.Addr]int{a: after[a] - before[a], b: after[b] - before[b]}
	}
	framework.Eventually(t, converge, "traffic through "+target, func() (bool, string) {
		err := dialOnce(node, "tcp4", target)
		return err == nil, fmt.Sprint(err)
	})
	if got := sends(40); got[a] < 39 || got[b] != 0 {
		t.Fatalf("40 connections with only %s ready: %v", a, got)
	}

	// Swap: a fails its probe, b passes.
	hs.set(b, true)
	hs.set(a, false)
	swapped := time.Now()
	bound := probePeriod*failureThreshold + slack
	for {
		got := sends(20)
		if got[a] == 0 && got[b] > 0 {
			break
		}
		if time.Since(swapped) > bound+converge {
			t.Fatalf("traffic still reaches %s %s after it failed its probe: %v", a, time.Since(swapped), got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	took := time.Since(swapped)
	t.Logf("MEASURE traffic moved from an endpoint failing its HTTP probe to the one passing after %s (bound %s)", took.Round(time.Millisecond), bound)
	if took > bound {
		t.Errorf("traffic moved after %s, want within %s", took, bound)
	}
	if got := sends(40); got[a] != 0 || got[b] < 39 {
		t.Errorf("40 connections with only %s ready: %v", b, got)
	}
}

// refusing returns the two steps of the refusing case on port of host:
// stop makes the server refuse (the probes, from Pod addresses, fail at
// once with a reset) while a blackhole route in the test host's namespace
// drops its resets to the client (masqueraded by kube-proxy to the node's
// end of the veth), so that a refusal the client sees can only be
// kube-proxy's; restore undoes both.
func refusing(t *testing.T, host *testhost.Host, port int) (stop, restore func() error) {
	t.Helper()
	nodeEnd := defaultGateway(t, host.Name) + "/32"
	stop = func() error {
		if err := ipIn(host.Name, "route", "add", "blackhole", nodeEnd); err != nil {
			return err
		}
		return host.StopServing(port)
	}
	restore = func() error {
		if err := host.Serve(port); err != nil {
			return err
		}
		return ipIn(host.Name, "route", "del", "blackhole", nodeEnd)
	}
	return stop, restore
}

// measureReject runs stop, measures until new connections to target are
// refused (by kube-proxy), then runs restore and measures until they get
// through again, and checks both against their bounds.
func measureReject(t *testing.T, node *framework.Node, target string, rejectBound, recoverBound time.Duration, stop, restore func() error) {
	t.Helper()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	var rejectedAfter time.Duration
	for {
		err := dialOnce(node, "tcp4", target)
		if errors.Is(err, syscall.ECONNREFUSED) {
			rejectedAfter = time.Since(stopped)
			break
		}
		if time.Since(stopped) > rejectBound+converge {
			t.Fatalf("connections to %s still not rejected %s after the test host stopped answering: %v", target, time.Since(stopped), err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("MEASURE rejected after %s (bound %s)", rejectedAfter.Round(time.Millisecond), rejectBound)
	if rejectedAfter > rejectBound {
		t.Errorf("new connections rejected after %s, want within %s", rejectedAfter, rejectBound)
	}

	if err := restore(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	// A single connection was seen getting through while kube-proxy still
	// rejected the ones around it (docs/benchmarks.md), most likely one
	// that reused the source port of an earlier attempt kube-proxy had
	// forwarded to the (then silent) endpoint: it follows that attempt's
	// conntrack entry and never meets the reject rule. Such hits come
	// singly, so traffic counts as flowing from the first of flowingInARow
	// connections in a row that get through.
	const flowingInARow = 5
	var flowingAfter, firstOK time.Duration
	inARow := 0
	for {
		err := dialOnce(node, "tcp4", target)
		if err == nil {
			if inARow == 0 {
				firstOK = time.Since(back)
			}
			inARow++
			if inARow == flowingInARow {
				flowingAfter = firstOK
				break
			}
			continue
		}
		inARow = 0
		if time.Since(back) > recoverBound+converge {
			t.Fatalf("connections to %s still failing %s after the test host answers again: %v", target, time.Since(back), err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("MEASURE traffic again after %s (bound %s)", flowingAfter.Round(time.Millisecond), recoverBound)
	if flowingAfter > recoverBound {
		t.Errorf("traffic flowed again after %s, want within %s", flowingAfter, recoverBound)
	}
}

// defaultGateway is the next hop of the default route in namespace ns.
func defaultGateway(t *testing.T, ns string) string {
	t.Helper()
	out, err := exec.Command("ip", "-n", ns, "-4", "route", "show", "default").CombinedOutput()
	f := strings.Fields(string(out))
	if err != nil || len(f) < 3 || f[1] != "via" {
		t.Fatalf("default route in %s: %v: %s", ns, err, out)
	}
	return f[2]
}

// ipIn runs an ip command in the named network namespace.
func ipIn(ns string, args ...string) error {
	out, err := exec.Command("ip", append([]string{"-n", ns}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip -n %s %s: %w: %s", ns, strings.Join(args, " "), err, out)
	}
	return nil
}

// dialOnce opens and closes one TCP connection from the node, giving up
// after 200 ms so that a black-holed target costs little time per attempt.
func dialOnce(node *framework.Node, network, address string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	c, err := node.Dial(ctx, network, address)
	if err != nil {
		return err
	}
	return c.Close()
}

// udpRoundTrip sends msg from the node and waits 300 ms for the echo.
func udpRoundTrip(node *framework.Node, address, msg string) error {
	c, err := node.Dial(context.Background(), "udp4", address)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write([]byte(msg)); err != nil {
		return err
	}
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil {
		return err
	}
	if string(buf[:n]) != msg {
		return fmt.Errorf("echo %q, want %q", buf[:n], msg)
	}
	return nil
}

// echo answers every datagram with itself until pc is closed.
func echo(pc net.PacketConn) {
	buf := make([]byte, 1500)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		pc.WriteTo(buf[:n], addr)
	}
}

// waitReplicas waits for two Ready Pods of the Deployment on the node.
func waitReplicas(t *testing.T, cs kubernetes.Interface, nodeName string) {
	t.Helper()
	framework.Eventually(t, podsReady, "two Ready controller Pods", func() (bool, string) {
		pods, err := cs.CoreV1().Pods(systemNamespace).List(context.Background(), metav1.ListOptions{LabelSelector: podSelector})
		if err != nil {
			return false, err.Error()
		}
		ready := 0
		var states []string
		for _, p := range pods.Items {
			ok := p.DeletionTimestamp == nil && p.Spec.NodeName == nodeName && podReady(&p)
			if ok {
				ready++
			}
			states = append(states, fmt.Sprintf("%s phase=%s ready=%t %s", p.Name, p.Status.Phase, ok, containerStates(&p)))
		}
		return ready == 2, strings.Join(states, "; ")
	})
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func containerStates(p *corev1.Pod) string {
	var s []string
	for _, c := range p.Status.ContainerStatuses {
		switch {
		case c.State.Waiting != nil:
			s = append(s, "waiting: "+c.State.Waiting.Reason+" "+c.State.Waiting.Message)
		case c.State.Terminated != nil:
			s = append(s, "terminated: "+c.State.Terminated.Reason+" "+c.State.Terminated.Message)
		default:
			s = append(s, fmt.Sprintf("running restarts=%d", c.RestartCount))
		}
	}
	return strings.Join(s, ",")
}

// waitMydemoReady waits for the Mydemo's Ready condition and its ready
// endpoint in the EndpointSlice, and returns its ClusterIP.
func waitMydemoReady(t *testing.T, crd versioned.Interface, ns, name string) string {
	t.Helper()
	var ip string
	framework.Eventually(t, converge, "Mydemo "+ns+"/"+name+" Ready", func() (bool, string) {
		md, err := crd.CrddemoV1().Mydemos(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		ip = md.Status.ClusterIP
		c := meta.FindStatusCondition(md.Status.Conditions, crddemov1.ConditionReady)
		if c == nil || c.Status != metav1.ConditionTrue || ip == "" {
			return false, fmt.Sprintf("conditions %v clusterIP %q", md.Status.Conditions, ip)
		}
		return true, ""
	})
	return ip
}
