package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/controller"
	"github.com/crddemo/crddemo/pkg/operator"
	"github.com/crddemo/crddemo/test/framework"
)

// unprobedRole is a role that takes in every ready endpoint.
func unprobedRole(name string) crddemov1.Role {
	return crddemov1.Role{Name: name, Probe: crddemov1.Probe{Type: crddemov1.ProbeTypeNone}}
}

// setRoles replaces the Mydemo's spec.roles.
func (e *env) setRoles(name string, roles ...crddemov1.Role) {
	e.t.Helper()
	e.eventually(converge, "spec.roles of "+name+" updated", func() (bool, string) {
		md := e.getMydemo(name)
		md.Spec.Roles = roles
		_, err := e.client.CrddemoV1().Mydemos(e.ns).Update(context.Background(), md, metav1.UpdateOptions{})
		return err == nil, fmt.Sprint(err)
	})
}

// gone waits until the Service and every EndpointSlice of svc are deleted.
func (e *env) gone(svc string) {
	e.t.Helper()
	e.eventually(converge, "Service "+svc+" and its slices deleted", func() (bool, string) {
		_, err := e.getService(svc)
		if !apierrors.IsNotFound(err) {
			return false, fmt.Sprintf("Service: %v", err)
		}
		list, err := e.kube.DiscoveryV1().EndpointSlices(e.ns).List(context.Background(), metav1.ListOptions{
			LabelSelector: "kubernetes.io/service-name=" + svc,
		})
		if err != nil {
			return false, err.Error()
		}
		return len(list.Items) == 0, fmt.Sprintf("%d slices", len(list.Items))
	})
}

// TestRoleAddedAndRemoved: adding a role to a published Mydemo creates
// its Service (labelled with the role, controlled by the Mydemo, with the
// Mydemo's ports) and slices, and kubectl get shows it; removing it deletes them and its status,
// and leaves the Mydemo's own Service and the other role alone.
func TestRoleAddedAndRemoved(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startController()
	const addr = "10.251.0.30"
	e.createMydemo("web", unprobed(addr, 8080))
	e.waitCondition("web", crddemov1.ConditionReady, metav1.ConditionTrue, "", converge)
	main, err := e.getService("web")
	if err != nil {
		t.Fatal(err)
	}

	e.setRoles("web", unprobedRole("reader"), unprobedRole("writer"))
	e.waitRole("web", "reader", crddemov1.RoleReady, converge, addr)
	md := e.waitRole("web", "writer", crddemov1.RoleReady, converge, addr)
	if want := "reader=" + addr + " writer=" + addr; md.Status.RoleSummary != want {
		t.Errorf("roleSummary %q, want %q", md.Status.RoleSummary, want)
	}
	// kubectl get shows the roles at a glance.
	out, err := framework.Get().Kubectl(context.Background(), "get", "mydemo", "web", "-n", e.ns)
	if err != nil {
		t.Fatalf("kubectl get: %v", err)
	}
	if !strings.Contains(out, "ROLES") || !strings.Contains(out, "reader="+addr+" writer="+addr) {
		t.Errorf("kubectl get mydemo shows no roles:\n%s", out)
	}
	for _, role := range []string{"reader", "writer"} {
		svc, err := e.getService("web-" + role)
		if err != nil {
			t.Fatal(err)
		}
		if svc.Labels[controller.LabelRole] != role || !metav1.IsControlledBy(svc, md) ||
			len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8080 || len(svc.Spec.Selector) != 0 {
			t.Errorf("Service web-%s: labels %v, owners %v, ports %v, selector %v", role, svc.Labels, svc.OwnerReferences, svc.Spec.Ports, svc.Spec.Selector)
		}
		e.serviceReady("web-"+role, role, converge, addr)
	}

	e.setRoles("web", unprobedRole("writer"))
	e.gone("web-reader")
	// The status is written after the sync's deletes.
	e.eventually(converge, "status.roles without reader", func() (bool, string) {
		md := e.getMydemo("web")
		return len(md.Status.Roles) == 1 && md.Status.Roles[0].Name == "writer" && md.Status.RoleSummary == "writer="+addr,
			fmt.Sprintf("%+v %q", md.Status.Roles, md.Status.RoleSummary)
	})
	e.setRoles("web")
	e.gone("web-writer")
	e.eventually(converge, "status.roles emptied", func() (bool, string) {
		md := e.getMydemo("web")
		return len(md.Status.Roles) == 0 && md.Status.RoleSummary == "" && len(endpointRoles(md)[addr]) == 0,
			fmt.Sprintf("%+v %q", md.Status.Roles, md.Status.RoleSummary)
	})
	if now, err := e.getService("web"); err != nil || now.UID != main.UID {
		t.Errorf("the Mydemo's own Service was replaced or deleted: %v", err)
	}
	e.serviceReady("web", "", converge, addr)
}

// TestRoleChildrenGuarded: with deploy/'s children guard and controller
// restraint in force and the controller running as its own
// ServiceAccount, the controller publishes a role's Service and slice
// (so they carry the labels the restraint asks for), a tenant with the
// edit role can neither update nor delete the role's Service, nobody but
// the controller rewrites its slice; and a foreign Service squatting
// <mydemo>-<role> is left alone: the role says NotPublished, a Warning
// says why, and the Mydemo's own Service stays published.
func TestRoleChildrenGuarded(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ctl := controllerIdentity(t)

	// A child no controller writes, to tell when the guard is in force.
	canaryOwner := e.createMydemo("canary", unprobed("10.251.0.41", 80))
	canary := selectorlessService("canary-probe", managedLabels("canary"))
	canary.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(canaryOwner, crddemov1.SchemeGroupVersion.WithKind("Mydemo"))}
	if _, err := e.kube.CoreV1().Services(e.ns).Create(ctx, canary, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	foreign, err := e.kube.CoreV1().Services(e.ns).Create(ctx, selectorlessService("payments-writer", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	guarded := func(kind, name string) string {
		return fmt.Sprintf("%s %s is controlled by Mydemo %s/payments (crddemo.k8s.io)", kind, name, e.ns)
	}
	const restrained = "the Mydemo controller may only write objects labelled app.kubernetes.io/managed-by=crddemo-controller"
	installPolicies(t, func() (bool, string) {
		ok, why := denied(e.annotate(e.kube, "Service", "canary-probe", true), "is controlled by Mydemo")
		if !ok {
			return false, why
		}
		// The controller updates (its ClusterRole has no patch).
		svc, err := ctl.kube.CoreV1().Services(e.ns).Get(ctx, "payments-writer", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		svc.Annotations = map[string]string{"example.com/touched": "yes"}
		_, err = ctl.kube.CoreV1().Services(e.ns).Update(ctx, svc, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}})
		return denied(err, restrained)
	}, "admission-children-guard.yaml", "admission-controller-restraint.yaml")

	saConfig, err := framework.Get().ServiceAccountConfig(ctx, controllerNamespace, controllerAccount)
	if err != nil {
		t.Fatal(err)
	}
	e.startController(func(c *operator.Config) { c.RestConfig = rest.CopyConfig(saConfig) })
	const addr = "10.251.0.40"
	spec := unprobed(addr, 80)
	spec.Roles = []crddemov1.Role{unprobedRole("reader")}
	e.createMydemo("payments", spec)
	e.waitRole("payments", "reader", crddemov1.RoleReady, converge, addr)
	e.serviceReady("payments-reader", "reader", converge, addr)

	check := func(what string, err error, want string) {
		t.Helper()
		if ok, why := denied(err, want); !ok || !apierrors.IsForbidden(err) {
			t.Errorf("%s: want 403 %q, got %s", what, want, why)
		}
	}
	startAggregationController(t)
	tenant := newUser(t, "tenant-"+e.ns)
	tenant.bind(t, e.kube, e.ns, "edit", authorizationv1.ResourceAttributes{Namespace: e.ns, Verb: "update", Resource: "services"})
	check("tenant update of the role's Service", e.annotate(tenant.kube, "Service", "payments-reader", false), guarded("Service", "payments-reader"))
	check("tenant delete of the role's Service", tenant.kube.CoreV1().Services(e.ns).Delete(ctx, "payments-reader", metav1.DeleteOptions{}), guarded("Service", "payments-reader"))
	check("admin update of the role's slice", e.annotate(e.kube, "EndpointSlice", "payments-reader-ipv4", false), guarded("EndpointSlice", "payments-reader-ipv4"))

	// A role whose Service name is taken.
	e.setRoles("payments", unprobedRole("reader"), unprobedRole("writer"))
	md := e.waitRole("payments", "writer", crddemov1.RoleNotPublished, converge)
	if msg := roleStatus(md, "writer").Message; !strings.Contains(msg, "Service "+e.ns+"/payments-writer exists and is not controlled by this Mydemo") {
		t.Errorf("status.roles[writer].message %q does not name the foreign Service", msg)
	}
	e.warningSaying("payments", controller.ReasonRoleConflict, "role writer", converge)
	md = e.waitCondition("payments", crddemov1.ConditionPublished, metav1.ConditionTrue, "", converge)
	if rs := roleStatus(md, "reader"); rs.Reason != crddemov1.RoleReady {
		t.Errorf("the other role: %+v", rs)
	}
	e.serviceReady("payments", "", converge, addr)
	if now, err := e.getService("payments-writer"); err != nil || now.ResourceVersion != foreign.ResourceVersion {
		t.Errorf("the foreign Service was touched: %v", err)
	}
	if _, err := e.getSlice("payments-writer-ipv4"); !apierrors.IsNotFound(err) {
		t.Errorf("a slice feeds the foreign Service: %v", err)
	}

	// Its owner deletes it: the role is published.
	if err := e.kube.CoreV1().Services(e.ns).Delete(ctx, "payments-writer", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitRole("payments", "writer", crddemov1.RoleReady, converge, addr)
	e.serviceReady("payments-writer", "writer", converge, addr)
	if svc, err := e.getService("payments-writer"); err != nil || svc.Labels[controller.LabelRole] != "writer" {
		t.Errorf("the role's Service after the foreign one went: %v %v", svc, err)
	}
}
