package integration

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
)

// TestRoleOfHeadlessMydemoHasClusterIP: on the API server, a headless,
// PreferSameZone Mydemo with a role publishes its own Service headless
// and the role's with a cluster IP the API server allocated (a failover
// then moves new connections with the slice write, not after DNS caches
// expire), and its ZoneHints condition says the headless Service routes
// nothing by the hints instead of HintsWritten.
func TestRoleOfHeadlessMydemoHasClusterIP(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startController()
	const addr = "10.251.28.1"
	primary := unprobedRole("primary")
	primary.MaxEndpoints = ptr.To[int32](1)
	e.createMydemo("db", crddemov1.MydemoSpec{
		Headless:            true,
		TrafficDistribution: ptr.To(corev1.ServiceTrafficDistributionPreferSameZone),
		Endpoints:           []crddemov1.Endpoint{{IP: addr, Name: "db-0", Zone: "zone-a"}},
		Port:                5432,
		Probe:               &crddemov1.Probe{Type: crddemov1.ProbeTypeNone},
		Roles:               []crddemov1.Role{primary},
	})
	e.waitRole("db", "primary", crddemov1.RoleReady, converge, addr)
	e.serviceReady("db-primary", "primary", converge, addr)
	role, err := e.getService("db-primary")
	if err != nil {
		t.Fatal(err)
	}
	if role.Spec.ClusterIP == "" || role.Spec.ClusterIP == corev1.ClusterIPNone {
		t.Errorf("role Service db-primary has clusterIP %q, want an allocated one", role.Spec.ClusterIP)
	}
	own, err := e.getService("db")
	if err != nil {
		t.Fatal(err)
	}
	if own.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("Service db has clusterIP %q, want None", own.Spec.ClusterIP)
	}
	e.waitCondition("db", crddemov1.ConditionZoneHints, metav1.ConditionFalse, "HeadlessService", converge)
}
