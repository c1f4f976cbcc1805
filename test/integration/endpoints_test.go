package integration

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/controller"
	"github.com/crddemo/crddemo/pkg/operator"
	"github.com/crddemo/crddemo/test/dnsserver"
	"github.com/crddemo/crddemo/test/testhost"
)

// fastProbe is a 1 s probe that needs two failures; transitions then take
// about 2-3 s, and every wait below allows period × threshold + a margin.
var fastProbe = &crddemov1.Probe{Type: crddemov1.ProbeTypeTCP, PeriodSeconds: 1, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 2}

// probeLimit is period × (failureThreshold + 1 for phase) plus slack for
// the sync and its writes on a loaded machine.
const probeLimit = 3*time.Second + 10*time.Second

func (e *env) waitEndpointsReady(name, want string, timeout time.Duration) *crddemov1.Mydemo {
	e.t.Helper()
	var md *crddemov1.Mydemo
	e.eventually(timeout, name+" endpoints ready "+want, func() (bool, string) {
		md = e.getMydemo(name)
		return md.Status.EndpointsReady == want, "endpointsReady " + md.Status.EndpointsReady
	})
	return md
}

// TestPartialHealth: three endpoints on two test hosts; stopping one host
// makes its endpoint alone not ready, and the Mydemo stays Ready.
func TestPartialHealth(t *testing.T) {
	t.Parallel()
	a, b := testhost.Require(t), testhost.Require(t)
	for _, h := range []*testhost.Host{a, b} {
		if err := h.Serve(5432); err != nil {
			t.Fatal(err)
		}
	}
	e := newEnv(t)
	e.startController()
	e.createMydemo("db", crddemov1.MydemoSpec{
		Endpoints: []crddemov1.Endpoint{{IP: a.Addr(1).String()}, {IP: a.Addr(2).String()}, {IP: b.Addr(1).String(), Zone: "b"}},
		Ports:     []crddemov1.Port{{Name: "sql", Port: 5432, Protocol: crddemov1.ProtocolTCP}},
		Probe:     fastProbe,
	})
	e.waitEndpointsReady("db", "3/3", converge)
	e.waitCondition("db", crddemov1.ConditionReady, metav1.ConditionTrue, "Ready", converge)

	if err := b.StopServing(5432); err != nil {
		t.Fatal(err)
	}
	md := e.waitEndpointsReady("db", "2/3", probeLimit)
	ready := findCondition(md, crddemov1.ConditionReady)
	if ready.Status != metav1.ConditionTrue || ready.Reason != "PartiallyReady" || !strings.Contains(ready.Message, "2 of 3") {
		t.Errorf("Ready = %+v", ready)
	}
	for _, ep := range md.Status.Endpoints {
		wantReady := ep.Address != b.Addr(1).String()
		if ep.Ready != wantReady || (!wantReady && (ep.Probe != crddemov1.ProbeUnreachable || ep.Message == "" || ep.LastTransitionTime == nil)) {
			t.Errorf("endpoint %+v", ep)
		}
	}
	slice, err := e.getSlice("db-ipv4")
	if err != nil {
		t.Fatal(err)
	}
	for _, ep := range slice.Endpoints {
		if want := ep.Addresses[0] != b.Addr(1).String(); *ep.Conditions.Ready != want {
			t.Errorf("slice endpoint %s ready=%v", ep.Addresses[0], *ep.Conditions.Ready)
		}
		if ep.Addresses[0] == b.Addr(1).String() && (ep.Zone == nil || *ep.Zone != "b") {
			t.Errorf("zone not published: %+v", ep)
		}
	}
	e.waitEvent("db", corev1.EventTypeWarning, controller.ReasonUnreachable, converge)

	if err := b.Serve(5432); err != nil {
		t.Fatal(err)
	}
	e.waitEndpointsReady("db", "3/3", probeLimit)
	e.waitCondition("db", crddemov1.ConditionReady, metav1.ConditionTrue, "Ready", converge)
}

// TestHostnameAnswers: a hostname resolved by a DNS server this test runs;
// a changed answer changes the slice with one write; a loopback answer is
// not published, with the reason in status.
func TestHostnameAnswers(t *testing.T) {
	t.Parallel()
	host := testhost.Require(t)
	if err := host.Serve(8080); err != nil {
		t.Fatal(err)
	}
	dns := dnsserver.Start(t, "127.0.0.1")
	dns.Set("db.crddemo.test", host.Addr(1), host.Addr(2))
	e := newEnv(t)
	rc := e.startController(func(c *operator.Config) { c.DNSServer = dns.Addr })
	e.createMydemo("db", crddemov1.MydemoSpec{
		Endpoints:            []crddemov1.Endpoint{{Hostname: "db.crddemo.test"}},
		Port:                 8080,
		ResolvePeriodSeconds: ptrTo[int32](5),
		Probe:                fastProbe,
	})
	e.waitEndpointsReady("db", "2/2", converge)
	time.Sleep(time.Second) // let the last write's events settle
	before := rc.counter.sliceWrites()

	dns.Set("db.crddemo.test", host.Addr(1), host.Addr(2), host.Addr(3))
	// One resolve period, then a probe of the new address.
	e.waitEndpointsReady("db", "3/3", 5*time.Second+probeLimit)
	if n := rc.counter.sliceWrites() - before; n != 1 {
		t.Errorf("%d EndpointSlice writes for one more address, want 1", n)
	}
	slice, err := e.getSlice("db-ipv4")
	if err != nil || len(slice.Endpoints) != 3 {
		t.Fatalf("slice %+v, %v", slice, err)
	}

	dns.Set("db.crddemo.test", host.Addr(1), netip.MustParseAddr("127.0.0.1"))
	md := e.waitEndpointsReady("db", "1/2", 5*time.Second+probeLimit)
	var refused *crddemov1.EndpointStatus
	for i, ep := range md.Status.Endpoints {
		if ep.Address == "127.0.0.1" {
			refused = &md.Status.Endpoints[i]
		}
	}
	if refused == nil || refused.Published || refused.Hostname != "db.crddemo.test" || !strings.Contains(refused.Message, "loopback") {
		t.Errorf("loopback answer: %+v", refused)
	}
	slice, _ = e.getSlice("db-ipv4")
	for _, ep := range slice.Endpoints {
		if ep.Addresses[0] == "127.0.0.1" {
			t.Error("a loopback answer was published")
		}
	}

	dns.Delete("db.crddemo.test")
	md = e.waitEndpointsReady("db", "0/0", 5*time.Second+converge)
	if len(md.Status.Hostnames) != 1 || !strings.Contains(md.Status.Hostnames[0].Message, "NXDOMAIN") {
		t.Errorf("hostname status %+v", md.Status.Hostnames)
	}
}

// TestManySlices: 250 endpoints make 3 slices; one flip rewrites one slice.
func TestManySlices(t *testing.T) {
	t.Parallel()
	a, b := testhost.Require(t), testhost.Require(t)
	for _, h := range []*testhost.Host{a, b} {
		if err := h.Serve(80); err != nil {
			t.Fatal(err)
		}
	}
	var eps []crddemov1.Endpoint
	for i := 1; i < 250; i++ {
		eps = append(eps, crddemov1.Endpoint{IP: a.Addr(i).String()})
	}
	eps = append(eps, crddemov1.Endpoint{IP: b.Addr(1).String()})
	e := newEnv(t)
	rc := e.startController()
	e.createMydemo("big", crddemov1.MydemoSpec{Endpoints: eps, Port: 80, Probe: fastProbe})
	e.waitEndpointsReady("big", "250/250", 2*converge)
	for _, name := range []string{"big-ipv4", "big-ipv4-1", "big-ipv4-2"} {
		if s, err := e.getSlice(name); err != nil || len(s.Endpoints) > 100 {
			t.Fatalf("slice %s: %v", name, err)
		}
	}
	time.Sleep(time.Second)
	before := rc.counter.sliceWrites()
	if err := b.StopServing(80); err != nil {
		t.Fatal(err)
	}
	e.waitEndpointsReady("big", "249/250", probeLimit)
	time.Sleep(2 * time.Second) // anything else would show by now
	if n := rc.counter.sliceWrites() - before; n != 1 {
		t.Errorf("%d EndpointSlice writes for one flip, want 1", n)
	}
}

// TestConflictAfterPublication: a foreign Service that takes the name of a
// published Mydemo while the controller is down gets none of its
// endpoints, and the Mydemo heals once it is deleted.
func TestConflictAfterPublication(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := e.startController()
	e.createMydemo("web", unprobed("10.251.0.20", 8080))
	e.waitCondition("web", crddemov1.ConditionPublished, metav1.ConditionTrue, controller.ReasonPublished, converge)
	rc.stop()

	ctx := context.Background()
	if err := e.kube.CoreV1().Services(e.ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	foreign, err := e.kube.CoreV1().Services(e.ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "someone-else"}, Ports: []corev1.ServicePort{{Port: 1234}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rc2 := e.startController()
	e.eventually(converge, "our slice removed", func() (bool, string) {
		_, err := e.getSlice("web-ipv4")
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	md := e.waitCondition("web", crddemov1.ConditionPublished, metav1.ConditionFalse, controller.ReasonServiceConflict, converge)
	if md.Status.ServiceName != "" {
		t.Errorf("status names the foreign Service: %q", md.Status.ServiceName)
	}
	e.waitEvent("web", corev1.EventTypeWarning, controller.ReasonServiceConflict, converge)
	if cur, _ := e.getService("web"); cur.ResourceVersion != foreign.ResourceVersion {
		t.Errorf("foreign Service modified")
	}

	// At rest the conflict costs no requests: a watch waits for the change.
	time.Sleep(time.Second)
	idle := rc2.counter.total.Load()
	time.Sleep(3 * time.Second)
	if n := rc2.counter.total.Load() - idle; n > 0 {
		t.Errorf("%d requests in 3 s of a conflict at rest", n)
	}

	if err := e.kube.CoreV1().Services(e.ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitCondition("web", crddemov1.ConditionPublished, metav1.ConditionTrue, controller.ReasonPublished, 10*time.Second)
}

func ptrTo[T any](v T) *T { return &v }

// TestFamilyChangeToUnservedFamily: a published IPv4 Mydemo edited to
// IPv6 on this IPv4-only cluster keeps its Service (and cluster IP), which
// is asked for the other family instead of being replaced by one the API
// server would reject; the IPv6 endpoint is refused as FamilyNotServed and
// the IPv4 slice goes, so nothing stale stays published.
func TestFamilyChangeToUnservedFamily(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startController()
	e.createMydemo("web", unprobed("10.251.0.41", 8080))
	e.waitEndpointReady("web-ipv4", true, converge)
	before, err := e.getService("web")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var md *crddemov1.Mydemo
	// The slice can be ready before the controller's status write lands,
	// which then makes an edit of the copy read before it a conflict.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		md = e.getMydemo("web")
		md.Spec.IP = "2001:db8::41"
		_, err := e.client.CrddemoV1().Mydemos(e.ns).Update(ctx, md, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	e.eventually(converge, "the IPv6 endpoint refused for its family", func() (bool, string) {
		md = e.getMydemo("web")
		if md.Status.ObservedGeneration != md.Generation || len(md.Status.Endpoints) != 1 {
			return false, "status not current"
		}
		return md.Status.Endpoints[0].Reason == familyNotServed, md.Status.Endpoints[0].Reason
	})
	e.eventually(converge, "the IPv4 slice gone", func() (bool, string) {
		_, err := e.getSlice("web-ipv4")
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	after, err := e.getService("web")
	if err != nil {
		t.Fatal(err)
	}
	if after.UID != before.UID || after.Spec.ClusterIP != before.Spec.ClusterIP {
		t.Errorf("Service replaced: %s %s, was %s %s", after.UID, after.Spec.ClusterIP, before.UID, before.Spec.ClusterIP)
	}
	if c := findCondition(md, crddemov1.ConditionReady); c.Status != metav1.ConditionFalse {
		t.Errorf("Ready = %+v, want False: no endpoint is published", c)
	}
}
