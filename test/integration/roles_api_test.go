package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/test/framework"
)

// rolesSpec is a Mydemo with a TCP port redis, a UDP port dns and the
// given roles (JSON), probing off.
func rolesSpec(roles string) string {
	return `{"ip":"10.0.0.1","ports":[{"name":"redis","port":6379},{"name":"dns","port":53,"protocol":"UDP"}],"probe":{"type":"None"},"roles":` + roles + `}`
}

// TestRolesRejected: the real API server refuses spec.roles the
// controller could not publish, naming the field: a role name that makes
// <mydemo>-<role> longer than a Service name, or is no DNS-1035 label; a
// probe port named but not in spec.ports, or of the wrong protocol; a
// port number out of range; failOpen in a role's probe; a role named
// twice; maxEndpoints below 1; more than crddemov1.MaxRoles roles.
func TestRolesRejected(t *testing.T) {
	t.Parallel()
	cp := framework.Get()
	ns := framework.CreateNamespace(t, kubernetes.NewForConfigOrDie(cp.Config))
	dyn := dynamic.NewForConfigOrDie(cp.Config)

	role15 := strings.Repeat("r", 15)
	tooMany := make([]string, crddemov1.MaxRoles+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf(`{"name":"r%d","probe":{"type":"None"}}`, i)
	}
	for _, tc := range []struct {
		name, mydemo, spec, wantField, wantMsg string
	}{
		{"service name too long", strings.Repeat("m", 48), rolesSpec(`[{"name":"` + role15 + `","probe":{"type":"None"}}]`),
			"<nil>", "a role's Service is named <mydemo>-<role>, which must be at most 63 characters"},
		{"name too long", "bad", rolesSpec(`[{"name":"` + role15 + `r","probe":{"type":"None"}}]`), "spec.roles[0].name", "Too long"},
		{"name with capitals", "bad", rolesSpec(`[{"name":"Primary","probe":{"type":"None"}}]`), "spec.roles[0].name", "must be a DNS-1035 label"},
		{"name starting with a digit", "bad", rolesSpec(`[{"name":"1st","probe":{"type":"None"}}]`), "spec.roles[0].name", "must be a DNS-1035 label"},
		{"name ending with a dash", "bad", rolesSpec(`[{"name":"primary-","probe":{"type":"None"}}]`), "spec.roles[0].name", "must be a DNS-1035 label"},
		{"empty name", "bad", rolesSpec(`[{"name":"","probe":{"type":"None"}}]`), "spec.roles[0].name", "at least 1 chars"},
		{"named port not in spec.ports", "bad", rolesSpec(`[{"name":"primary","probe":{"type":"HTTP","port":"patroni"}}]`),
			"spec.roles", "a role's probe.port names no port of spec.ports"},
		{"named port without spec.ports", "bad", `{"ip":"10.0.0.1","port":6379,"roles":[{"name":"primary","probe":{"type":"Redis","port":"redis"}}]}`,
			"spec.roles", "a role's probe.port names no port of spec.ports"},
		{"HTTP probe of a UDP port", "bad", rolesSpec(`[{"name":"primary","probe":{"type":"HTTP","port":"dns"}}]`),
			"spec.roles", "a role's probe.port names a port of the wrong protocol"},
		{"DNS probe of a TCP port", "bad", rolesSpec(`[{"name":"resolver","probe":{"type":"DNS","port":"redis","dns":{"name":"example.com"}}}]`),
			"spec.roles", "a role's probe.port names a port of the wrong protocol"},
		{"port 0", "bad", rolesSpec(`[{"name":"primary","probe":{"type":"HTTP","port":0}}]`),
			"spec.roles[0].probe.port", "must be a port number from 1 to 65535"},
		{"port 70000", "bad", rolesSpec(`[{"name":"primary","probe":{"type":"HTTP","port":70000}}]`),
			"spec.roles[0].probe.port", "must be a port number from 1 to 65535"},
		{"failOpen", "bad", rolesSpec(`[{"name":"primary","probe":{"type":"Redis","failOpen":true}}]`),
			"spec.roles[0].probe.failOpen", "failOpen applies to spec.probe only"},
		{"duplicate name", "bad", rolesSpec(`[{"name":"primary","probe":{"type":"None"}},{"name":"primary","probe":{"type":"TCP"}}]`),
			"spec.roles[1]", "Duplicate value"},
		{"maxEndpoints 0", "bad", rolesSpec(`[{"name":"primary","probe":{"type":"None"},"maxEndpoints":0}]`),
			"spec.roles[0].maxEndpoints", "greater than or equal to 1"},
		{"no probe", "bad", rolesSpec(`[{"name":"primary"}]`), "spec.roles[0].probe", "Required value"},
		{"too many roles", "bad", rolesSpec(`[` + strings.Join(tooMany, ",") + `]`), "spec.roles", "Too many"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := createSpec(t, dyn, ns, tc.mydemo, tc.spec)
			if err == nil {
				_ = dyn.Resource(mydemosGVR).Namespace(ns).Delete(context.Background(), tc.mydemo, metav1.DeleteOptions{})
				t.Fatalf("accepted %s", tc.spec)
			}
			assertRejected(t, err, tc.wantField, tc.wantMsg)
		})
	}
}

// TestRolesAccepted: the forms of spec.roles the controller publishes
// are accepted: a numbered port the Mydemo does not publish (Patroni's
// 8008), a named TCP or UDP port of spec.ports for a probe of that
// protocol, a probe of type None without a port, the longest role name
// beside the longest Mydemo name it fits, and the most roles at once, each
// with the largest probe the API allows, within the API server's CEL
// cost budget.
func TestRolesAccepted(t *testing.T) {
	t.Parallel()
	cp := framework.Get()
	ns := framework.CreateNamespace(t, kubernetes.NewForConfigOrDie(cp.Config))
	dyn := dynamic.NewForConfigOrDie(cp.Config)

	headers := make([]string, 16)
	for i := range headers {
		headers[i] = fmt.Sprintf(`{"name":"X-H%d","value":%q}`, i, strings.Repeat("v", 4096))
	}
	ports := make([]string, 100)
	for i := range ports {
		ports[i] = fmt.Sprintf(`{"name":"p%d","port":%d}`, i, 1000+i)
	}
	most := make([]string, crddemov1.MaxRoles)
	for i := range most {
		most[i] = fmt.Sprintf(`{"name":"role-%d","maxEndpoints":1000,"probe":{"type":"HTTP","port":"p%d",`+
			`"http":{"path":"/%s","headers":[%s]}}}`, i, 99-i, strings.Repeat("p", 2047), strings.Join(headers, ","))
	}
	largest := strings.Replace(manyEndpoints(1000), `{"port":80,`, `{"ports":[`+strings.Join(ports, ",")+`],`, 1)
	largest = strings.TrimSuffix(largest, "}") + `,"probe":{"type":"TCP","port":"p0"},"roles":[` + strings.Join(most, ",") + `]}`

	for _, tc := range []struct{ name, spec string }{
		{"patroni", `{"ip":"10.0.0.1","port":5432,"roles":[{"name":"primary","maxEndpoints":1,"probe":{"type":"HTTP","port":8008,"http":{"path":"/primary"}}},` +
			`{"name":"replica","probe":{"type":"HTTP","port":8008,"http":{"path":"/replica"}}}]}`},
		{"redis", rolesSpec(`[{"name":"master","maxEndpoints":1,"probe":{"type":"Redis","port":"redis","redis":{"role":"master"}}},{"name":"replica","probe":{"type":"Redis","redis":{"role":"replica"}}}]`)},
		{"udp", rolesSpec(`[{"name":"resolver","probe":{"type":"DNS","port":"dns","dns":{"name":"example.com"}}},{"name":"any","probe":{"type":"UDP","port":5353,"udp":{"send":"ping"}}}]`)},
		{"unprobed", `{"ip":"10.0.0.1","port":80,"roles":[{"name":"all","probe":{"type":"None"}}]}`},
		{strings.Repeat("m", 47), rolesSpec(`[{"name":"` + strings.Repeat("r", 15) + `","probe":{"type":"None"}}]`)},
		{"largest", largest},
	} {
		t.Run(tc.name[:min(len(tc.name), 10)], func(t *testing.T) {
			if err := createSpec(t, dyn, ns, tc.name, tc.spec); err != nil {
				t.Fatalf("rejected: %v", err)
			}
		})
	}
}
