package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/controller"
	"github.com/crddemo/crddemo/test/framework"
	"github.com/crddemo/crddemo/test/testhost"
)

// TestLastingWriteFailureIsReported: an admission policy that denies our
// EndpointSlice updates is reported in status (quoting the API server) and
// in a Warning Event, while Reachable and Ready keep following the probe;
// once the policy goes, the slice catches up.
func TestLastingWriteFailureIsReported(t *testing.T) {
	t.Parallel()
	host := testhost.Require(t)
	if err := host.Serve(8080); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	e.startController()
	e.createMydemo("db", crddemov1.MydemoSpec{IP: host.Addr(1).String(), Port: 8080, Probe: fastProbe})
	e.waitEndpointsReady("db", "1/1", converge)

	ctx := context.Background()
	name := "deny-slice-updates-" + e.ns
	adm := e.kube.AdmissionregistrationV1()
	policy, err := adm.ValidatingAdmissionPolicies().Create(ctx, &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{"discovery.k8s.io"}, APIVersions: []string{"v1"}, Resources: []string{"endpointslices"}},
				},
			}}},
			Validations: []admissionregistrationv1.Validation{{Expression: "false", Message: "endpoint changes are frozen by the test"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = adm.ValidatingAdmissionPolicies().Delete(ctx, policy.Name, metav1.DeleteOptions{}) })
	binding, err := adm.ValidatingAdmissionPolicyBindings().Create(ctx, &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
			MatchResources: &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{corev1.LabelMetadataName: e.ns},
			}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = adm.ValidatingAdmissionPolicyBindings().Delete(ctx, binding.Name, metav1.DeleteOptions{}) })
	// The policy takes effect once the API server has loaded it: probe
	// with a harmless update until it is denied.
	e.eventually(converge, "the policy in force", func() (bool, string) {
		s, err := e.getSlice("db-ipv4")
		if err != nil {
			return false, err.Error()
		}
		s.Annotations = map[string]string{"probe": time.Now().String()}
		_, err = e.kube.DiscoveryV1().EndpointSlices(e.ns).Update(ctx, s, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}})
		return err != nil, fmt.Sprint(err)
	})

	if err := host.StopServing(8080); err != nil {
		t.Fatal(err)
	}
	md := e.waitCondition("db", crddemov1.ConditionPublished, metav1.ConditionFalse, controller.ReasonWriteFailed, probeLimit+converge)
	if msg := findCondition(md, crddemov1.ConditionPublished).Message; !strings.Contains(msg, "endpoint changes are frozen by the test") {
		t.Errorf("Published message does not quote the API server: %q", msg)
	}
	if r := findCondition(md, crddemov1.ConditionReachable); r.Status != metav1.ConditionFalse {
		t.Errorf("Reachable does not follow the probe: %+v", r)
	}
	e.waitEvent("db", corev1.EventTypeWarning, controller.ReasonWriteFailed, converge)

	if err := adm.ValidatingAdmissionPolicyBindings().Delete(ctx, binding.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Retried with backoff (capped at 30 s), not only at a resync.
	e.waitCondition("db", crddemov1.ConditionPublished, metav1.ConditionTrue, controller.ReasonPublished, 45*time.Second)
	e.waitEndpointReady("db-ipv4", false, converge)
}

// TestRecreateSameName: a Mydemo deleted and created again under the same
// name (kubectl replace --force, GitOps) waits for the garbage collector to
// remove the old children, without a Warning, and is then published.
func TestRecreateSameName(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startController()
	e.createMydemo("web", unprobed("10.251.0.30", 8080))
	e.waitCondition("web", crddemov1.ConditionPublished, metav1.ConditionTrue, controller.ReasonPublished, converge)
	old := e.getMydemo("web")

	ctx := context.Background()
	if err := e.client.CrddemoV1().Mydemos(e.ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.createMydemo("web", unprobed("10.251.0.31", 8080))
	md := e.waitCondition("web", crddemov1.ConditionPublished, metav1.ConditionTrue, controller.ReasonPublished, 45*time.Second)
	if md.UID == old.UID {
		t.Fatal("the Mydemo was not recreated")
	}
	svc, err := e.getService("web")
	if err != nil || len(svc.OwnerReferences) != 1 || svc.OwnerReferences[0].UID != md.UID {
		t.Fatalf("Service not owned by the new Mydemo: %v %v", svc.OwnerReferences, err)
	}
	events, err := e.kube.CoreV1().Events(e.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range events.Items {
		if ev.InvolvedObject.UID == md.UID && ev.Type == corev1.EventTypeWarning {
			t.Errorf("Warning Event for the recreated Mydemo: %s %s", ev.Reason, ev.Message)
		}
	}
}

// TestDeletingMarksTerminating: a Mydemo whose deletion waits for a foreign
// finalizer marks its endpoints terminating (not ready) at once.
func TestDeletingMarksTerminating(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startController()
	md := e.createMydemo("web", unprobed("10.251.0.32", 8080))
	e.waitEndpointReady("web-ipv4", true, converge)
	ctx := context.Background()
	patch := []byte(`{"metadata":{"finalizers":["example.com/hold"]}}`)
	if _, err := e.client.CrddemoV1().Mydemos(e.ns).Patch(ctx, md.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = e.client.CrddemoV1().Mydemos(e.ns).Patch(ctx, md.Name, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
	})
	if err := e.client.CrddemoV1().Mydemos(e.ns).Delete(ctx, md.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.eventually(converge, "endpoints terminating", func() (bool, string) {
		s, err := e.getSlice("web-ipv4")
		if err != nil {
			return false, err.Error()
		}
		c := s.Endpoints[0].Conditions
		return !*c.Ready && c.Terminating != nil && *c.Terminating, fmt.Sprintf("%+v", c)
	})
}

// TestForeignStatus: conditions added by other clients never make our
// status writes fail, and a status someone else overwrote is corrected by
// the next sync, not at a resync.
func TestForeignStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startController()
	e.createMydemo("web", unprobed("10.251.0.33", 8080))
	e.waitCondition("web", crddemov1.ConditionReady, metav1.ConditionTrue, "", converge)

	ctx := context.Background()
	md := e.getMydemo("web")
	for i := range 8 {
		meta.SetStatusCondition(&md.Status.Conditions, metav1.Condition{
			Type: fmt.Sprintf("example.com/Other%d", i), Status: metav1.ConditionTrue, Reason: "Other", Message: "set by another client",
		})
	}
	md.Status.EndpointsReady = "0/1"
	if _, err := e.client.CrddemoV1().Mydemos(e.ns).UpdateStatus(ctx, md, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitEndpointsReady("web", "1/1", converge)

	// A spec change needs a status write beside the foreign conditions.
	md = e.getMydemo("web")
	md.Spec.Port = 9090
	if _, err := e.client.CrddemoV1().Mydemos(e.ns).Update(ctx, md, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.eventually(converge, "status for the new generation", func() (bool, string) {
		md := e.getMydemo("web")
		return md.Status.ObservedGeneration == md.Generation, fmt.Sprintf("observed %d", md.Status.ObservedGeneration)
	})
	if n := len(e.getMydemo("web").Status.Conditions); n != 11 {
		t.Errorf("%d conditions, want our 3 and the 8 foreign ones", n)
	}
}

// TestRestartAfterRewording: a status whose messages another version worded
// differently restarts with no write and no flap: seeding reads reasons,
// generations and per-endpoint fields, never message text.
func TestRestartAfterRewording(t *testing.T) {
	t.Parallel()
	host := testhost.Require(t)
	if err := host.Serve(8080); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	first := e.startController()
	e.createMydemo("up", crddemov1.MydemoSpec{IP: host.Addr(1).String(), Port: 8080, Probe: fastProbe})
	e.createMydemo("down", crddemov1.MydemoSpec{IP: host.Addr(2).String(), Port: 8081, Probe: fastProbe})
	e.waitCondition("up", crddemov1.ConditionReachable, metav1.ConditionTrue, "", converge)
	e.waitCondition("down", crddemov1.ConditionReachable, metav1.ConditionFalse, "", converge)
	first.stop()

	ctx := context.Background()
	for _, name := range []string{"up", "down"} {
		md := e.getMydemo(name)
		for i := range md.Status.Conditions {
			md.Status.Conditions[i].Message = "worded by an older version"
		}
		if _, err := e.client.CrddemoV1().Mydemos(e.ns).UpdateStatus(ctx, md, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	second := e.startController()
	e.eventually(converge, "both synced", func() (bool, string) {
		return second.syncs.n.Load() >= 2, fmt.Sprintf("%d syncs", second.syncs.n.Load())
	})
	time.Sleep(3 * time.Second) // three probe periods
	second.stop()
	if w := second.counter.writes(); w != 0 {
		t.Fatalf("restart after rewording sent %d writes: %v", w, second.counter.snapshot())
	}
	if _, err := e.getSlice("up-ipv4"); apierrors.IsNotFound(err) {
		t.Fatal("slice gone")
	}
	_ = framework.Get()
}
