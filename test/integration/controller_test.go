package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/controller"
	"github.com/crddemo/crddemo/test/framework"
)

const converge = 30 * time.Second

func TestPublishAndColumns(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startController()
	e.createMydemo("web", unprobed("10.251.0.10", 8080))

	md := e.waitCondition("web", crddemov1.ConditionReady, metav1.ConditionTrue, "", converge)
	svc, err := e.getService("web")
	if err != nil {
		t.Fatal(err)
	}
	if md.Status.ClusterIP == "" || md.Status.ClusterIP != svc.Spec.ClusterIP || md.Status.ServiceName != "web" {
		t.Errorf("status %+v does not match Service cluster IP %q", md.Status, svc.Spec.ClusterIP)
	}
	if md.Status.ObservedGeneration != md.Generation {
		t.Errorf("observedGeneration %d, generation %d", md.Status.ObservedGeneration, md.Generation)
	}
	if svc.Spec.Selector != nil || svc.Spec.Ports[0].Port != 8080 || svc.Spec.Ports[0].Protocol != corev1.ProtocolTCP ||
		svc.Spec.IPFamilies[0] != corev1.IPv4Protocol || !metav1.IsControlledBy(svc, md) {
		t.Errorf("unexpected Service %+v", svc.Spec)
	}
	slice, err := e.getSlice("web-ipv4")
	if err != nil {
		t.Fatal(err)
	}
	if slice.Labels[discoveryv1.LabelServiceName] != "web" || slice.Labels[discoveryv1.LabelManagedBy] != controller.EndpointSliceManagedBy ||
		slice.Endpoints[0].Addresses[0] != "10.251.0.10" || !*slice.Endpoints[0].Conditions.Ready || *slice.Endpoints[0].Conditions.Terminating {
		t.Errorf("unexpected EndpointSlice %+v", slice)
	}
	e.waitEvent("web", corev1.EventTypeNormal, controller.ReasonPublished, converge)

	out, err := framework.Get().Kubectl(context.Background(), "get", "md", "-n", e.ns)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	header := strings.Fields(lines[0])
	wantHeader := []string{"NAME", "IP", "PORT", "PROTOCOL", "CLUSTER-IP", "ENDPOINTS", "READY", "REASON", "AGE"}
	if strings.Join(header, " ") != strings.Join(wantHeader, " ") {
		t.Errorf("kubectl get md header %q, want %q", header, wantHeader)
	}
	row := strings.Fields(lines[1])
	wantRow := []string{"web", "10.251.0.10", "8080", "TCP", svc.Spec.ClusterIP, "1/1", "True", "Ready"}
	if len(row) != 9 || strings.Join(row[:8], " ") != strings.Join(wantRow, " ") {
		t.Errorf("kubectl get md row %q, want %q + age", row, wantRow)
	}
}

func TestEditPort(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startController()
	e.createMydemo("web", unprobed("10.251.0.11", 8080))
	md := e.waitCondition("web", crddemov1.ConditionReady, metav1.ConditionTrue, "", converge)

	md.Spec.Port = 9090
	md.Spec.Protocol = crddemov1.ProtocolUDP
	md, err := e.client.CrddemoV1().Mydemos(e.ns).Update(context.Background(), md, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.eventually(converge, "port and protocol updated", func() (bool, string) {
		svc, err1 := e.getService("web")
		slice, err2 := e.getSlice("web-ipv4")
		cur := e.getMydemo("web")
		if err1 != nil || err2 != nil {
			return false, "missing child"
		}
		return svc.Spec.Ports[0].Port == 9090 && svc.Spec.Ports[0].Protocol == corev1.ProtocolUDP &&
			*slice.Ports[0].Port == 9090 && *slice.Ports[0].Protocol == corev1.ProtocolUDP &&
			cur.Status.ObservedGeneration == md.Generation, "not yet"
	})
}

func TestTamperingIsReverted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startController()
	e.createMydemo("web", unprobed("10.251.0.12", 8080))
	e.waitCondition("web", crddemov1.ConditionReady, metav1.ConditionTrue, "", converge)

	slice, err := e.getSlice("web-ipv4")
	if err != nil {
		t.Fatal(err)
	}
	slice.Endpoints[0].Addresses = []string{"10.251.0.99"}
	slice.Endpoints[0].Conditions.Ready = ptr.To(false)
	if _, err := e.kube.DiscoveryV1().EndpointSlices(e.ns).Update(context.Background(), slice, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.eventually(converge, "EndpointSlice reverted", func() (bool, string) {
		s, err := e.getSlice("web-ipv4")
		if err != nil {
			return false, err.Error()
		}
		return s.Endpoints[0].Addresses[0] == "10.251.0.12" && *s.Endpoints[0].Conditions.Ready, "still tampered"
	})

	// A deleted slice is recreated.
	if err := e.kube.DiscoveryV1().EndpointSlices(e.ns).Delete(context.Background(), "web-ipv4", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.eventually(converge, "EndpointSlice recreated", func() (bool, string) {
		_, err := e.getSlice("web-ipv4")
		return err == nil, "missing"
	})
}

func TestForeignServiceConflict(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	foreign, err := e.kube.CoreV1().Services(e.ns).Create(context.Background(), &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "someone-else"}, Ports: []corev1.ServicePort{{Port: 1234}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.startController()
	e.createMydemo("web", unprobed("10.251.0.13", 8080))

	md := e.waitCondition("web", crddemov1.ConditionPublished, metav1.ConditionFalse, controller.ReasonServiceConflict, converge)
	if ready := findCondition(md, crddemov1.ConditionReady); ready.Status != metav1.ConditionFalse {
		t.Errorf("Ready = %+v", ready)
	}
	ev := e.waitEvent("web", corev1.EventTypeWarning, controller.ReasonServiceConflict, converge)
	if !strings.Contains(ev.Message, "not controlled by this Mydemo") {
		t.Errorf("event message %q", ev.Message)
	}
	// Give the controller a few retries, then check it never touched the
	// foreign Service.
	time.Sleep(2 * time.Second)
	cur, err := e.getService("web")
	if err != nil {
		t.Fatal(err)
	}
	if cur.ResourceVersion != foreign.ResourceVersion || len(cur.OwnerReferences) != 0 {
		t.Fatalf("foreign Service was modified: %+v", cur.ObjectMeta)
	}
	if _, err := e.getSlice("web-ipv4"); !apierrors.IsNotFound(err) {
		t.Errorf("EndpointSlice created despite the conflict: %v", err)
	}

	if err := e.kube.CoreV1().Services(e.ns).Delete(context.Background(), "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Healing depends on the retry backoff (capped at 30 s by default).
	e.waitCondition("web", crddemov1.ConditionPublished, metav1.ConditionTrue, controller.ReasonPublished, 45*time.Second)
	e.waitEvent("web", corev1.EventTypeNormal, controller.ReasonConflictResolved, converge)
}

func TestDeleteGarbageCollectsChildren(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startController()
	e.createMydemo("web", unprobed("10.251.0.14", 8080))
	e.waitCondition("web", crddemov1.ConditionReady, metav1.ConditionTrue, "", converge)

	if err := e.client.CrddemoV1().Mydemos(e.ns).Delete(context.Background(), "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.eventually(60*time.Second, "Service and EndpointSlice garbage collected", func() (bool, string) {
		_, err1 := e.getService("web")
		_, err2 := e.getSlice("web-ipv4")
		return apierrors.IsNotFound(err1) && apierrors.IsNotFound(err2), "still there"
	})
}

func TestIPv6RejectedBySingleStackCluster(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startController()
	e.createMydemo("v6", unprobed("2001:db8::10", 8080))
	md := e.waitCondition("v6", crddemov1.ConditionPublished, metav1.ConditionFalse, controller.ReasonServiceRejected, converge)
	msg := findCondition(md, crddemov1.ConditionPublished).Message
	if !strings.Contains(msg, "IPv6") {
		t.Errorf("message does not carry the API server's reason: %q", msg)
	}
	e.waitEvent("v6", corev1.EventTypeWarning, controller.ReasonServiceRejected, converge)
}

func findCondition(md *crddemov1.Mydemo, condType string) metav1.Condition {
	if c := meta.FindStatusCondition(md.Status.Conditions, condType); c != nil {
		return *c
	}
	return metav1.Condition{}
}
