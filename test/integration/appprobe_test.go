package integration

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/controller"
	"github.com/crddemo/crddemo/test/testhost"
)

// appProbe is a probe of kind typ that notices a change within a few
// seconds: period 1 s, timeout 1 s, two failures.
func appProbe(typ crddemov1.ProbeType) *crddemov1.Probe {
	return &crddemov1.Probe{Type: typ, PeriodSeconds: 1, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 2}
}

// appProbeLimit is how long a change may take to show: failureThreshold
// periods, one period of phase, the timeout, plus 3 s for the sync and
// its writes on a busy machine.
const appProbeLimit = (2+1+1)*time.Second + 3*time.Second

// serveOnHost runs srv on port of host, in the host's network namespace,
// until the test ends.
func serveOnHost(t *testing.T, host *testhost.Host, port int, serve func(net.Listener) error, stop func()) {
	t.Helper()
	ln, err := host.Listen(port)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = serve(ln)
	}()
	t.Cleanup(func() {
		stop()
		_ = ln.Close()
		<-done
	})
}

func endpointMessage(md *crddemov1.Mydemo) string {
	if len(md.Status.Endpoints) != 1 {
		return ""
	}
	return md.Status.Endpoints[0].Message
}

// TestHTTPProbeFollowsHealthPath: an HTTP server whose health path starts
// answering 503 makes the endpoint not ready, with the status code and the
// request in status and in the Warning Event; 200 again makes it ready.
func TestHTTPProbeFollowsHealthPath(t *testing.T) {
	t.Parallel()
	host := testhost.Require(t)
	var code atomic.Int64
	code.Store(http.StatusOK)
	var probes atomic.Int64
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		probes.Add(1)
		w.WriteHeader(int(code.Load()))
	}), ReadHeaderTimeout: 5 * time.Second}
	serveOnHost(t, host, 8080, srv.Serve, func() { _ = srv.Close() })

	e := newEnv(t)
	e.startController()
	p := appProbe(crddemov1.ProbeTypeHTTP)
	p.HTTP = &crddemov1.HTTPProbe{Path: "/healthz"}
	e.createMydemo("api", crddemov1.MydemoSpec{IP: host.Addr(1).String(), Port: 8080, Probe: p})
	e.waitCondition("api", crddemov1.ConditionReady, metav1.ConditionTrue, "", converge)
	e.waitEndpointReady("api-ipv4", true, converge)
	if probes.Load() == 0 {
		t.Fatal("Ready without a request to /healthz: the endpoint was not probed over HTTP")
	}

	code.Store(http.StatusServiceUnavailable)
	const want = "HTTP 503 from GET /healthz"
	md := e.waitCondition("api", crddemov1.ConditionReachable, metav1.ConditionFalse, "", appProbeLimit)
	if got := endpointMessage(md); got != want {
		t.Errorf("status.endpoints[0].message = %q, want %q", got, want)
	}
	if msg := findCondition(md, crddemov1.ConditionReachable).Message; !strings.Contains(msg, want) {
		t.Errorf("Reachable message %q does not say %q", msg, want)
	}
	e.waitEndpointReady("api-ipv4", false, converge)
	if ev := e.waitEvent("api", corev1.EventTypeWarning, controller.ReasonUnreachable, converge); !strings.Contains(ev.Message, want) {
		t.Errorf("Unreachable Event %q does not say %q", ev.Message, want)
	}

	code.Store(http.StatusOK)
	e.waitCondition("api", crddemov1.ConditionReady, metav1.ConditionTrue, "", appProbeLimit)
	e.waitEndpointReady("api-ipv4", true, converge)
}

// TestGRPCProbeFollowsHealthStatus toggles the standard health service of a
// gRPC server between SERVING and NOT_SERVING.
func TestGRPCProbeFollowsHealthStatus(t *testing.T) {
	t.Parallel()
	host := testhost.Require(t)
	hs := health.NewServer()
	const service = "crddemo.test.Orders"
	hs.SetServingStatus(service, healthpb.HealthCheckResponse_SERVING)
	gs := grpc.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	serveOnHost(t, host, 9090, gs.Serve, gs.Stop)

	e := newEnv(t)
	e.startController()
	p := appProbe(crddemov1.ProbeTypeGRPC)
	p.GRPC = &crddemov1.GRPCProbe{Service: service}
	e.createMydemo("orders", crddemov1.MydemoSpec{IP: host.Addr(1).String(), Port: 9090, Probe: p})
	e.waitCondition("orders", crddemov1.ConditionReady, metav1.ConditionTrue, "", converge)
	e.waitEndpointReady("orders-ipv4", true, converge)

	hs.SetServingStatus(service, healthpb.HealthCheckResponse_NOT_SERVING)
	const want = "gRPC NOT_SERVING"
	md := e.waitCondition("orders", crddemov1.ConditionReachable, metav1.ConditionFalse, "", appProbeLimit)
	if got := endpointMessage(md); got != want {
		t.Errorf("status.endpoints[0].message = %q, want %q", got, want)
	}
	e.waitEndpointReady("orders-ipv4", false, converge)
	if ev := e.waitEvent("orders", corev1.EventTypeWarning, controller.ReasonUnreachable, converge); !strings.Contains(ev.Message, want) {
		t.Errorf("Unreachable Event %q does not say %q", ev.Message, want)
	}

	hs.SetServingStatus(service, healthpb.HealthCheckResponse_SERVING)
	e.waitCondition("orders", crddemov1.ConditionReady, metav1.ConditionTrue, "", appProbeLimit)
	e.waitEndpointReady("orders-ipv4", true, converge)
}

// TestFailOpenWhenEveryEndpointFails: with probe.failOpen, two endpoints
// whose health path both fail are published as ready, and the status says
// why; once one passes again, only that one is ready.
func TestFailOpenWhenEveryEndpointFails(t *testing.T) {
	t.Parallel()
	host := testhost.Require(t)
	healthy := map[string]*atomic.Bool{}
	a, b := host.Addr(1).String(), host.Addr(2).String()
	for _, ip := range []string{a, b} {
		healthy[ip] = &atomic.Bool{}
		healthy[ip].Store(true)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip, _, _ := net.SplitHostPort(r.Host)
		if h := healthy[ip]; h != nil && h.Load() {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}), ReadHeaderTimeout: 5 * time.Second}
	serveOnHost(t, host, 8080, srv.Serve, func() { _ = srv.Close() })

	e := newEnv(t)
	e.startController()
	p := appProbe(crddemov1.ProbeTypeHTTP)
	p.HTTP = &crddemov1.HTTPProbe{Path: "/healthz"}
	p.FailOpen = true
	e.createMydemo("panic", crddemov1.MydemoSpec{
		Endpoints: []crddemov1.Endpoint{{IP: a}, {IP: b}},
		Ports:     []crddemov1.Port{{Name: "http", Port: 8080}},
		Probe:     p,
	})
	e.waitCondition("panic", crddemov1.ConditionReady, metav1.ConditionTrue, "Ready", converge)

	healthy[a].Store(false)
	healthy[b].Store(false)
	md := e.waitCondition("panic", crddemov1.ConditionReady, metav1.ConditionTrue, "FailOpen", appProbeLimit)
	if r := findCondition(md, crddemov1.ConditionReachable); r.Status != metav1.ConditionFalse {
		t.Errorf("Reachable = %s/%s while every endpoint fails", r.Status, r.Reason)
	}
	for _, ep := range md.Status.Endpoints {
		if !ep.Ready || ep.Message != "HTTP 503 from GET /healthz" {
			t.Errorf("endpoint %s: ready=%v message=%q, want ready with the probe failure", ep.Address, ep.Ready, ep.Message)
		}
	}
	e.waitSliceReady("panic-ipv4", map[string]bool{a: true, b: true}, converge)
	ev := e.waitEvent("panic", corev1.EventTypeWarning, controller.ReasonFailOpen, converge)
	t.Logf("Warning Event: %s", ev.Message)

	healthy[b].Store(true)
	e.waitCondition("panic", crddemov1.ConditionReady, metav1.ConditionTrue, "PartiallyReady", appProbeLimit)
	e.waitSliceReady("panic-ipv4", map[string]bool{a: false, b: true}, converge)
}

// waitSliceReady waits until the slice's endpoints have the given ready
// conditions, by address.
func (e *env) waitSliceReady(slice string, want map[string]bool, timeout time.Duration) {
	e.t.Helper()
	e.eventually(timeout, "endpoints of "+slice, func() (bool, string) {
		s, err := e.getSlice(slice)
		if err != nil {
			return false, err.Error()
		}
		if len(s.Endpoints) != len(want) {
			return false, fmt.Sprintf("%d endpoints", len(s.Endpoints))
		}
		for _, ep := range s.Endpoints {
			w, ok := want[ep.Addresses[0]]
			if !ok || ep.Conditions.Ready == nil || *ep.Conditions.Ready != w {
				return false, "not yet: " + ep.Addresses[0]
			}
		}
		return true, ""
	})
}
