package integration

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/generated/clientset/versioned"
	"github.com/crddemo/crddemo/test/framework"
)

var mydemosGVR = crddemov1.SchemeGroupVersion.WithResource("mydemos")

func TestCRDEstablished(t *testing.T) {
	t.Parallel()
	cp := framework.Get()
	client := apiextensionsclient.NewForConfigOrDie(cp.Config)
	crd, err := client.ApiextensionsV1().CustomResourceDefinitions().Get(context.Background(), "mydemos.crddemo.k8s.io", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	established := false
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
			established = true
		}
	}
	if !established {
		t.Fatalf("CRD not Established: %+v", crd.Status.Conditions)
	}
	if crd.Spec.Versions[0].Subresources == nil || crd.Spec.Versions[0].Subresources.Status == nil {
		t.Error("status subresource missing")
	}
	if got := crd.Spec.Names.ShortNames; len(got) != 1 || got[0] != "md" {
		t.Errorf("short names %v", got)
	}
}

func TestExamplesApply(t *testing.T) {
	t.Parallel()
	cp := framework.Get()
	ns := framework.CreateNamespace(t, kubernetes.NewForConfigOrDie(cp.Config))
	// No controller watches this namespace, so the documentation
	// addresses in the examples are never probed.
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "example", "example-mydemo*.yaml"))
	if err != nil || len(files) < 3 {
		t.Fatalf("examples: %v %v", files, err)
	}
	// The AddressPolicy example is cluster-wide: were it applied, every
	// other test's namespace would be denied everything. A server-side
	// dry run proves it is valid.
	policy := filepath.Join(repoRoot(t), "example", "address-policy.yaml")
	if out, err := cp.Kubectl(context.Background(), "apply", "--dry-run=server", "-f", policy); err != nil {
		t.Errorf("kubectl apply --dry-run=server -f %s: %v\n%s", policy, err, out)
	}
	for _, f := range files {
		if out, err := cp.Kubectl(context.Background(), "apply", "-n", ns, "-f", f); err != nil {
			t.Errorf("kubectl apply -f %s: %v\n%s", f, err, out)
		}
	}
	client := versioned.NewForConfigOrDie(cp.Config)
	list, err := client.CrddemoV1().Mydemos(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != len(files) {
		t.Errorf("%d Mydemos for %d example files", len(list.Items), len(files))
	}
	md, err := client.CrddemoV1().Mydemos(ns).Get(context.Background(), "example-mydemo", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if md.Spec.Port != 8080 {
		t.Errorf("example-mydemo port %d, want 8080", md.Spec.Port)
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	cp := framework.Get()
	ns := framework.CreateNamespace(t, kubernetes.NewForConfigOrDie(cp.Config))
	client := versioned.NewForConfigOrDie(cp.Config)
	ctx := context.Background()

	md, err := client.CrddemoV1().Mydemos(ns).Create(ctx, &crddemov1.Mydemo{
		ObjectMeta: metav1.ObjectMeta{Name: "defaults"},
		Spec: crddemov1.MydemoSpec{
			IP: "10.251.0.1", Port: 80,
			Probe: &crddemov1.Probe{},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := crddemov1.Probe{Type: crddemov1.ProbeTypeTCP, PeriodSeconds: 10, EdgeIntervalSeconds: 1, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3}
	if md.Spec.Protocol != crddemov1.ProtocolTCP || *md.Spec.Probe != want {
		t.Errorf("defaults: protocol %q probe %+v, want TCP %+v", md.Spec.Protocol, *md.Spec.Probe, want)
	}

	// UDP without a probe section stays without one: nothing is probed.
	udp, err := client.CrddemoV1().Mydemos(ns).Create(ctx, &crddemov1.Mydemo{
		ObjectMeta: metav1.ObjectMeta{Name: "udp"},
		Spec:       crddemov1.MydemoSpec{IP: "10.251.0.2", Port: 53, Protocol: crddemov1.ProtocolUDP},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if udp.Spec.Probe != nil {
		t.Errorf("UDP Mydemo got a probe: %+v", udp.Spec.Probe)
	}
}

// TestMixedFormsAccepted: any address form goes with any port form, and
// the largest lists allowed are accepted (their validation rules stay
// within the API server's CEL cost budget).
func TestMixedFormsAccepted(t *testing.T) {
	t.Parallel()
	cp := framework.Get()
	ns := framework.CreateNamespace(t, kubernetes.NewForConfigOrDie(cp.Config))
	dyn := dynamic.NewForConfigOrDie(cp.Config)
	ports := make([]string, 100)
	for i := range ports {
		ports[i] = fmt.Sprintf(`{"name":"p%d","port":%d}`, i, 1000+i)
	}
	for name, spec := range map[string]string{
		"ip-ports":        `{"ip":"10.0.0.1","ports":[{"name":"http","port":80,"appProtocol":"http"},{"name":"dns","port":53,"protocol":"UDP"}],"probe":{"port":"http"}}`,
		"endpoints-port":  `{"endpoints":[{"ip":"10.0.0.1","zone":"a"},{"hostname":"db.example.com"},{"ip":"2001:db8::1"}],"port":5432}`,
		"probe-by-number": `{"ip":"10.0.0.1","ports":[{"name":"http","port":80},{"name":"admin","port":9000}],"probe":{"port":9000}}`,
		"spec-port-probe": `{"ip":"10.0.0.1","port":80,"probe":{"port":80}}`,
		"udp-none":        `{"ip":"10.0.0.1","ports":[{"name":"dns","port":53,"protocol":"UDP"}],"probe":{"type":"None"}}`,
		"max-endpoints":   manyEndpoints(1000),
		"max-ports":       `{"ip":"10.0.0.1","ports":[` + strings.Join(ports, ",") + `]}`,
	} {
		t.Run(name, func(t *testing.T) {
			if err := createSpec(t, dyn, ns, name, spec); err != nil {
				t.Fatalf("rejected %s: %v", name, err)
			}
		})
	}
}

// TestValidation submits bad Mydemos and asserts the field path and the
// message a user of kubectl would see.
func TestValidation(t *testing.T) {
	t.Parallel()
	cp := framework.Get()
	ns := framework.CreateNamespace(t, kubernetes.NewForConfigOrDie(cp.Config))
	dyn := dynamic.NewForConfigOrDie(cp.Config)

	for _, tc := range []struct {
		name      string
		spec      string // JSON of spec
		metaName  string // default: a valid name
		wantField string
		wantMsg   string
	}{
		{"loopback v4", `{"ip":"127.0.0.1","port":8080}`, "", "spec.ip", "must not be a loopback address"},
		{"loopback v6", `{"ip":"::1","port":8080}`, "", "spec.ip", "must not be a loopback address"},
		{"unspecified v4", `{"ip":"0.0.0.0","port":8080}`, "", "spec.ip", "must not be the unspecified address"},
		{"unspecified v6", `{"ip":"::","port":8080}`, "", "spec.ip", "must not be the unspecified address"},
		{"link-local v4", `{"ip":"169.254.1.1","port":8080}`, "", "spec.ip", "must not be a link-local address"},
		{"link-local v6", `{"ip":"fe80::1","port":8080}`, "", "spec.ip", "must not be a link-local address"},
		{"link-local multicast", `{"ip":"224.0.0.5","port":8080}`, "", "spec.ip", "must not be a link-local multicast address"},
		{"multicast", `{"ip":"239.1.1.1","port":8080}`, "", "spec.ip", "must be a unicast address"},
		{"broadcast", `{"ip":"255.255.255.255","port":8080}`, "", "spec.ip", "must be a unicast address"},
		{"not an IP", `{"ip":"db.example.com","port":8080}`, "", "spec.ip", "must be a valid IPv4 or IPv6 address"},
		{"IPv6 with zone", `{"ip":"fe80::1%eth0","port":8080}`, "", "spec.ip", "must be a valid IPv4 or IPv6 address"},
		{"CIDR", `{"ip":"10.0.0.0/8","port":8080}`, "", "spec.ip", "must be a valid IPv4 or IPv6 address"},
		{"non-canonical IPv6", `{"ip":"2001:DB8:0::1","port":8080}`, "", "spec.ip", "canonical form"},
		{"port 0", `{"ip":"10.0.0.1","port":0}`, "", "spec.port", "should be greater than or equal to 1"},
		{"port 65536", `{"ip":"10.0.0.1","port":65536}`, "", "spec.port", "should be less than or equal to 65535"},
		{"port as a string", `{"ip":"10.0.0.1","port":"8080"}`, "", "spec.port", "must be of type integer"},
		{"unknown protocol", `{"ip":"10.0.0.1","port":8080,"protocol":"HTTP"}`, "", "spec.protocol", `supported values: "TCP", "UDP", "SCTP"`},
		{"TCP probe with UDP", `{"ip":"10.0.0.1","port":53,"protocol":"UDP","probe":{"type":"TCP"}}`, "", "spec.probe.type", "a TCP, HTTP, HTTPS, GRPC, Redis, Postgres or MySQL probe needs protocol TCP"},
		{"timeout greater than period", `{"ip":"10.0.0.1","port":80,"probe":{"periodSeconds":2,"timeoutSeconds":5}}`, "", "spec.probe.timeoutSeconds", "must not be greater than periodSeconds"},
		{"edge interval greater than period", `{"ip":"10.0.0.1","port":80,"probe":{"periodSeconds":2,"edgeIntervalSeconds":5}}`, "", "spec.probe.edgeIntervalSeconds", "must not be greater than periodSeconds"},
		{"zero failure threshold", `{"ip":"10.0.0.1","port":80,"probe":{"failureThreshold":0}}`, "", "spec.probe.failureThreshold", "should be greater than or equal to 1"},
		{"negative success threshold", `{"ip":"10.0.0.1","port":80,"probe":{"successThreshold":-1}}`, "", "spec.probe.successThreshold", "should be greater than or equal to 1"},
		{"zero period", `{"ip":"10.0.0.1","port":80,"probe":{"periodSeconds":0}}`, "", "spec.probe.periodSeconds", "should be greater than or equal to 1"},
		{"unknown probe type", `{"ip":"10.0.0.1","port":80,"probe":{"type":"ICMP"}}`, "", "spec.probe.type", `supported values: "TCP", "HTTP", "HTTPS", "GRPC", "Redis", "Postgres", "MySQL", "UDP", "DNS", "None"`},
		{"unknown field", `{"ip":"10.0.0.1","port":80,"host":"db"}`, "", "spec.host", `strict decoding error: unknown field "spec.host"`},
		{"missing ip", `{"port":80}`, "", "spec", "set spec.ip (one address) or spec.endpoints"},
		{"missing port", `{"ip":"10.0.0.1"}`, "", "spec", "set spec.port (one port) or spec.ports"},
		{"ip and endpoints", `{"ip":"10.0.0.1","endpoints":[{"ip":"10.0.0.2"}],"port":80}`, "", "spec", "move the address into spec.endpoints as {ip: ...}"},
		{"port and ports", `{"ip":"10.0.0.1","port":80,"ports":[{"name":"http","port":80}]}`, "", "spec", "write every port in spec.ports"},
		{"protocol with ports", `{"ip":"10.0.0.1","protocol":"UDP","ports":[{"name":"dns","port":53}]}`, "", "spec.protocol", "set protocol on each port (spec.ports[i].protocol)"},
		{"endpoint with ip and hostname", `{"endpoints":[{"ip":"10.0.0.1","hostname":"db.example.com"}],"port":80}`, "", "spec.endpoints[0]", "set exactly one of ip or hostname"},
		{"empty endpoint", `{"endpoints":[{"zone":"a"}],"port":80}`, "", "spec.endpoints[0]", "set exactly one of ip or hostname"},
		{"endpoint loopback", `{"endpoints":[{"ip":"10.0.0.1"},{"ip":"127.0.0.1"}],"port":80}`, "", "spec.endpoints[1].ip", "must not be a loopback address"},
		{"endpoint link-local v6", `{"endpoints":[{"ip":"fe80::1"}],"port":80}`, "", "spec.endpoints[0].ip", "must not be a link-local address"},
		{"endpoint not canonical", `{"endpoints":[{"ip":"2001:DB8::1"}],"port":80}`, "", "spec.endpoints[0].ip", "canonical form"},
		{"endpoint hostname in ip", `{"endpoints":[{"ip":"db.example.com"}],"port":80}`, "", "spec.endpoints[0].ip", "write a DNS name in hostname instead"},
		{"endpoint ip in hostname", `{"endpoints":[{"hostname":"10.0.0.1"}],"port":80}`, "", "spec.endpoints[0].hostname", "is an IP address: write it in ip instead"},
		{"endpoint bad hostname", `{"endpoints":[{"hostname":"db_1.Example.com"}],"port":80}`, "", "spec.endpoints[0].hostname", "must be a DNS name"},
		{"duplicate endpoint ip", `{"endpoints":[{"ip":"10.0.0.1"},{"ip":"10.0.0.2"},{"ip":"10.0.0.1","zone":"b"}],"port":80}`, "", "spec.endpoints[2]", "Duplicate value"},
		{"duplicate hostname", `{"endpoints":[{"hostname":"db.example.com"},{"hostname":"db.example.com"}],"port":80}`, "", "spec.endpoints[1]", "Duplicate value"},
		{"too many endpoints", manyEndpoints(1001), "", "spec.endpoints", "must have at most 1000 items"},
		{"duplicate port name", `{"ip":"10.0.0.1","ports":[{"name":"http","port":80},{"name":"http","port":81}]}`, "", "spec.ports[1]", "Duplicate value"},
		{"duplicate port number", `{"ip":"10.0.0.1","ports":[{"name":"http","port":80},{"name":"web","port":80}]}`, "", "spec.ports", "same port number and protocol"},
		{"bad port name", `{"ip":"10.0.0.1","ports":[{"name":"HTTP_1","port":80}]}`, "", "spec.ports[0].name", "must be a lowercase DNS label"},
		{"long port name", `{"ip":"10.0.0.1","ports":[{"name":"a-very-long-port-name","port":80}]}`, "", "spec.ports[0].name", "Too long"},
		{"port without name", `{"ip":"10.0.0.1","ports":[{"port":80}]}`, "", "spec.ports[0].name", "Required value"},
		{"probe port unknown name", `{"ip":"10.0.0.1","ports":[{"name":"http","port":80}],"probe":{"port":"metrics"}}`, "", "spec.probe.port", "must be the name or number of a port in spec.ports"},
		{"probe port unknown number", `{"ip":"10.0.0.1","ports":[{"name":"http","port":80}],"probe":{"port":81}}`, "", "spec.probe.port", "must be the name or number of a port in spec.ports"},
		{"probe port UDP", `{"ip":"10.0.0.1","ports":[{"name":"http","port":80},{"name":"dns","port":53,"protocol":"UDP"}],"probe":{"port":"dns"}}`, "", "spec.probe.port", "the probed port must be a TCP port"},
		{"probe only UDP ports", `{"ip":"10.0.0.1","ports":[{"name":"dns","port":53,"protocol":"UDP"}],"probe":{"type":"TCP"}}`, "", "spec.probe.port", "the probed port must be a TCP port"},
		{"probe port not spec.port", `{"ip":"10.0.0.1","port":80,"probe":{"port":81}}`, "", "spec.probe.port", "must be spec.port"},
		{"resolve period too short", `{"endpoints":[{"hostname":"db.example.com"}],"port":80,"resolvePeriodSeconds":1}`, "", "spec.resolvePeriodSeconds", "should be greater than or equal to 5"},
		{"name not a DNS label", `{"ip":"10.0.0.1","port":80}`, "my.demo", "<nil>", "metadata.name must be a DNS-1035 label"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := tc.metaName
			if name == "" {
				name = "bad"
			}
			err := createSpec(t, dyn, ns, name, tc.spec)
			if err == nil {
				_ = dyn.Resource(mydemosGVR).Namespace(ns).Delete(context.Background(), name, metav1.DeleteOptions{})
				t.Fatalf("accepted %s", tc.spec)
			}
			assertRejected(t, err, tc.wantField, tc.wantMsg)
		})
	}
}

// manyEndpoints is the JSON of a spec with n distinct IPv4 endpoints.
func manyEndpoints(n int) string {
	eps := make([]string, n)
	for i := range eps {
		eps[i] = fmt.Sprintf(`{"ip":"10.0.%d.%d"}`, i/250, i%250+1)
	}
	return `{"port":80,"endpoints":[` + strings.Join(eps, ",") + `]}`
}

// assertRejected checks that err is a rejection that names field and whose
// message contains msg, as kubectl would print it.
func assertRejected(t *testing.T, err error, field, msg string) {
	t.Helper()
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		t.Fatalf("not an API status error: %v", err)
	}
	s := status.Status()
	if s.Code != 422 && s.Code != 400 {
		t.Errorf("HTTP %d, want 422 or 400: %s", s.Code, s.Message)
	}
	if !strings.Contains(s.Message, msg) {
		t.Errorf("message %q does not contain %q", s.Message, msg)
	}
	if field == "<nil>" {
		return
	}
	if !strings.Contains(s.Message, field) {
		t.Errorf("message %q does not name field %q", s.Message, field)
	}
	if s.Details != nil && len(s.Details.Causes) > 0 {
		found := false
		for _, c := range s.Details.Causes {
			if strings.TrimPrefix(c.Field, ".") == strings.TrimPrefix(field, ".") {
				found = true
			}
		}
		if !found {
			t.Errorf("no cause for field %q in %+v", field, s.Details.Causes)
		}
	}
}

// repoRoot is framework.RepoRoot for a test.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := framework.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestExplain: the field documentation reaches kubectl explain.
func TestExplain(t *testing.T) {
	t.Parallel()
	cp := framework.Get()
	for field, want := range map[string][]string{
		"mydemo.spec":       {"ip", "port", "protocol", "probe", "canonical form", "Loopback"},
		"mydemo.spec.probe": {"periodSeconds", "timeoutSeconds", "successThreshold", "failureThreshold", "None"},
		"mydemo.status":     {"observedGeneration", "conditions", "serviceName", "clusterIP"},
	} {
		out, err := cp.Kubectl(context.Background(), "explain", field)
		if err != nil {
			t.Fatalf("kubectl explain %s: %v", field, err)
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("kubectl explain %s does not mention %q:\n%s", field, w, out)
			}
		}
	}
}
