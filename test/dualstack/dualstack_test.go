package dualstack

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2/ktesting"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/generated/clientset/versioned"
	"github.com/crddemo/crddemo/pkg/operator"
	"github.com/crddemo/crddemo/test/framework"
)

const converge = 30 * time.Second

// TestDualStackService: endpoints of both families make a PreferDualStack
// Service with both cluster IPs and one slice per family; dropping the
// IPv6 endpoint makes it single-stack again in place, and making IPv6 the
// only family replaces it.
func TestDualStackService(t *testing.T) {
	cp := framework.Get()
	kube := kubernetes.NewForConfigOrDie(cp.Config)
	client := versioned.NewForConfigOrDie(cp.Config)
	ns := framework.CreateNamespace(t, kube)
	startController(t, ns)
	ctx := context.Background()

	// Probing off: the addresses are documentation addresses nobody dials.
	md, err := client.CrddemoV1().Mydemos(ns).Create(ctx, &crddemov1.Mydemo{
		ObjectMeta: metav1.ObjectMeta{Name: "edge"},
		Spec: crddemov1.MydemoSpec{
			Endpoints: []crddemov1.Endpoint{{IP: "192.0.2.30"}, {IP: "2001:db8::30"}},
			Port:      443,
			Probe:     &crddemov1.Probe{Type: crddemov1.ProbeTypeNone},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc := waitService(t, kube, ns, "edge", func(s *corev1.Service) bool { return len(s.Spec.ClusterIPs) == 2 })
	if *svc.Spec.IPFamilyPolicy != corev1.IPFamilyPolicyPreferDualStack || svc.Spec.IPFamilies[0] != corev1.IPv4Protocol || svc.Spec.IPFamilies[1] != corev1.IPv6Protocol {
		t.Errorf("Service families %v policy %v", svc.Spec.IPFamilies, *svc.Spec.IPFamilyPolicy)
	}
	for _, name := range []string{"edge-ipv4", "edge-ipv6"} {
		framework.Eventually(t, converge, "slice "+name, func() (bool, string) {
			_, err := kube.DiscoveryV1().EndpointSlices(ns).Get(ctx, name, metav1.GetOptions{})
			return err == nil, fmt.Sprint(err)
		})
	}
	framework.Eventually(t, converge, "status with both cluster IPs", func() (bool, string) {
		cur, err := client.CrddemoV1().Mydemos(ns).Get(ctx, "edge", metav1.GetOptions{})
		return err == nil && len(cur.Status.ClusterIPs) == 2 && cur.Status.EndpointsReady == "2/2", fmt.Sprintf("%v %v", cur.Status.ClusterIPs, err)
	})
	uid := svc.UID

	update := func(endpoints []crddemov1.Endpoint) {
		t.Helper()
		if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, err := client.CrddemoV1().Mydemos(ns).Get(ctx, md.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			cur.Spec.Endpoints = endpoints
			_, err = client.CrddemoV1().Mydemos(ns).Update(ctx, cur, metav1.UpdateOptions{})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}

	// Back to IPv4 only: changed in place.
	update(md.Spec.Endpoints[:1])
	svc = waitService(t, kube, ns, "edge", func(s *corev1.Service) bool { return len(s.Spec.IPFamilies) == 1 })
	if svc.UID != uid || *svc.Spec.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack || len(svc.Spec.ClusterIPs) != 1 {
		t.Errorf("single-stack again: uid changed %v, policy %v, cluster IPs %v", svc.UID != uid, *svc.Spec.IPFamilyPolicy, svc.Spec.ClusterIPs)
	}
	framework.Eventually(t, converge, "IPv6 slice removed", func() (bool, string) {
		_, err := kube.DiscoveryV1().EndpointSlices(ns).Get(ctx, "edge-ipv6", metav1.GetOptions{})
		return err != nil, "still there"
	})

	// IPv6 only: the primary family changes, so the Service is replaced.
	update([]crddemov1.Endpoint{{IP: "2001:db8::31"}})
	svc = waitService(t, kube, ns, "edge", func(s *corev1.Service) bool { return s.Spec.IPFamilies[0] == corev1.IPv6Protocol })
	if svc.UID == uid {
		t.Error("the primary family changed in place")
	}
}

func waitService(t *testing.T, kube kubernetes.Interface, ns, name string, cond func(*corev1.Service) bool) *corev1.Service {
	t.Helper()
	var svc *corev1.Service
	framework.Eventually(t, converge, "Service "+name, func() (bool, string) {
		s, err := kube.CoreV1().Services(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		svc = s
		return cond(s), fmt.Sprintf("families %v cluster IPs %v", s.Spec.IPFamilies, s.Spec.ClusterIPs)
	})
	return svc
}

// startController runs the operator on ns only, until the test ends.
func startController(t *testing.T, ns string) {
	t.Helper()
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	op, err := operator.New(ctx, operator.Config{RestConfig: rest.CopyConfig(framework.Get().Config), Namespace: ns, Workers: 2, ProbeConcurrency: 10})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- op.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	framework.Eventually(t, converge, "caches synced", func() (bool, string) { return op.HasSynced(), "" })
}
