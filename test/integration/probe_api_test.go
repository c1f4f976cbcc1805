package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/cert"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/generated/clientset/versioned"
	"github.com/crddemo/crddemo/test/framework"
)

// createSpec creates a Mydemo with the given spec JSON, with strict field
// validation as kubectl apply uses.
func createSpec(t *testing.T, dyn dynamic.Interface, ns, name, spec string) error {
	t.Helper()
	var s map[string]any
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		t.Fatalf("spec JSON: %v", err)
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": crddemov1.SchemeGroupVersion.String(),
		"kind":       "Mydemo",
		"metadata":   map[string]any{"name": name},
		"spec":       s,
	}}
	_, err := dyn.Resource(mydemosGVR).Namespace(ns).Create(context.Background(), obj,
		metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
	return err
}

// testCAPEM is a PEM certificate made for the test, as a JSON string.
func testCAPEM(t *testing.T) string {
	t.Helper()
	certPEM, _, err := cert.GenerateSelfSignedCertKey("ca.probe.test", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return string(certPEM)
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestProbeKindsRejected: settings a probe kind cannot use, and malformed
// settings, are rejected at admission with the field named.
func TestProbeKindsRejected(t *testing.T) {
	t.Parallel()
	cp := framework.Get()
	ns := framework.CreateNamespace(t, kubernetes.NewForConfigOrDie(cp.Config))
	dyn := dynamic.NewForConfigOrDie(cp.Config)
	ca := jsonString(testCAPEM(t))
	key := jsonString("-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEA\n-----END PRIVATE KEY-----\n")
	huge := jsonString(strings.Repeat(testCAPEM(t), 65536/len(testCAPEM(t))+1))

	probe := func(p string) string { return `{"ip":"10.0.0.1","port":443,"probe":` + p + `}` }
	for _, tc := range []struct {
		name, spec, wantField, wantMsg string
	}{
		{"http on TCP", probe(`{"http":{"path":"/healthz"}}`), "spec.probe.http", "probe.http applies only to probe.type HTTP or HTTPS"},
		{"http on GRPC", probe(`{"type":"GRPC","http":{"path":"/healthz"}}`), "spec.probe.http", "probe.http applies only to probe.type HTTP or HTTPS"},
		{"http on None", probe(`{"type":"None","http":{}}`), "spec.probe.http", "probe.http applies only"},
		{"tls on HTTP", probe(`{"type":"HTTP","tls":{"insecureSkipVerify":true}}`), "spec.probe.tls", "probe.tls applies only to probe.type HTTPS, GRPC, TCP or Redis"},
		{"grpc on HTTPS", probe(`{"type":"HTTPS","grpc":{"service":"x"}}`), "spec.probe.grpc", "probe.grpc applies only to probe.type GRPC"},
		{"grpc on TCP", probe(`{"grpc":{}}`), "spec.probe.grpc", "probe.grpc applies only to probe.type GRPC"},
		{"caBundle not PEM", probe(`{"type":"HTTPS","tls":{"caBundle":"MIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8"}}`), "spec.probe.tls.caBundle", "must be one or more PEM certificates"},
		{"caBundle a private key", probe(`{"type":"HTTPS","tls":{"caBundle":` + key + `}}`), "spec.probe.tls.caBundle", "must be one or more PEM certificates"},
		{"caBundle with trailing text", probe(`{"type":"HTTPS","tls":{"caBundle":` + jsonString(testCAPEM(t)+"and more") + `}}`), "spec.probe.tls.caBundle", "must be one or more PEM certificates"},
		{"caBundle too long", probe(`{"type":"HTTPS","tls":{"caBundle":` + huge + `}}`), "spec.probe.tls.caBundle", "Too long"},
		{"caBundle and skip verify", probe(`{"type":"HTTPS","tls":{"caBundle":` + ca + `,"insecureSkipVerify":true}}`), "spec.probe.tls.caBundle", "has no effect with insecureSkipVerify"},
		{"status below 100", probe(`{"type":"HTTP","http":{"expectedStatuses":[{"min":99,"max":200}]}}`), "spec.probe.http.expectedStatuses[0].min", "greater than or equal to 100"},
		{"status above 599", probe(`{"type":"HTTP","http":{"expectedStatuses":[{"min":200,"max":600}]}}`), "spec.probe.http.expectedStatuses[0].max", "less than or equal to 599"},
		{"status min above max", probe(`{"type":"HTTP","http":{"expectedStatuses":[{"min":200},{"min":300,"max":299}]}}`), "spec.probe.http.expectedStatuses[1].max", "must not be less than min"},
		{"no status", probe(`{"type":"HTTP","http":{"expectedStatuses":[]}}`), "spec.probe.http.expectedStatuses", "at least 1 items"},
		{"status as a string", probe(`{"type":"HTTP","http":{"expectedStatuses":["200-299"]}}`), "spec.probe.http.expectedStatuses[0]", "must be of type object"},
		{"method POST", probe(`{"type":"HTTP","http":{"method":"POST"}}`), "spec.probe.http.method", `supported values: "GET", "HEAD"`},
		{"path without slash", probe(`{"type":"HTTP","http":{"path":"healthz"}}`), "spec.probe.http.path", "must start with '/'"},
		{"path with a space", probe(`{"type":"HTTP","http":{"path":"/health z"}}`), "spec.probe.http.path", "must start with '/'"},
		{"host with a path", probe(`{"type":"HTTP","http":{"host":"api.example.com/x"}}`), "spec.probe.http.host", "must be a DNS name or an IP address"},
		{"Host header", probe(`{"type":"HTTP","http":{"headers":[{"name":"host","value":"a"}]}}`), "spec.probe.http.headers[0].name", "use probe.http.host"},
		{"header name with a space", probe(`{"type":"HTTP","http":{"headers":[{"name":"X Probe","value":"a"}]}}`), "spec.probe.http.headers[0].name", "must be an HTTP header name"},
		{"header value with a line break", probe(`{"type":"HTTP","http":{"headers":[{"name":"X-Probe","value":"a\r\nX-Other: b"}]}}`), "spec.probe.http.headers[0].value", "must not contain control characters"},
		{"duplicate header", probe(`{"type":"HTTP","http":{"headers":[{"name":"X-A","value":"a"},{"name":"X-A","value":"b"}]}}`), "spec.probe.http.headers[1]", "Duplicate value"},
		{"unknown http field", probe(`{"type":"HTTP","http":{"url":"http://x/"}}`), "spec.probe.http.url", `unknown field "spec.probe.http.url"`},
		{"bad server name", probe(`{"type":"HTTPS","tls":{"serverName":"api_1.example.com"}}`), "spec.probe.tls.serverName", "must be a DNS name"},
		{"HTTP probe of a UDP port", `{"ip":"10.0.0.1","port":53,"protocol":"UDP","probe":{"type":"HTTP"}}`, "spec.probe.type", "a TCP, HTTP, HTTPS, GRPC, Redis, Postgres or MySQL probe needs protocol TCP"},
		{"GRPC probe of a UDP port", `{"ip":"10.0.0.1","ports":[{"name":"web","port":80},{"name":"dns","port":53,"protocol":"UDP"}],"probe":{"type":"GRPC","port":"dns"}}`, "spec.probe.port", "the probed port must be a TCP port"},
		{"HTTPS probe with only UDP ports", `{"ip":"10.0.0.1","ports":[{"name":"dns","port":53,"protocol":"UDP"}],"probe":{"type":"HTTPS"}}`, "spec.probe.port", "the probed port must be a TCP port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := createSpec(t, dyn, ns, "bad", tc.spec)
			if err == nil {
				_ = dyn.Resource(mydemosGVR).Namespace(ns).Delete(context.Background(), "bad", metav1.DeleteOptions{})
				t.Fatalf("accepted %s", tc.spec)
			}
			assertRejected(t, err, tc.wantField, tc.wantMsg)
		})
	}
}

// TestProbeKindsAccepted: every probe kind with its settings is accepted,
// defaults are filled in, and the largest object the API allows (1000
// endpoints, 100 ports, every probe list at its maximum) stays within the
// API server's CEL cost budget.
func TestProbeKindsAccepted(t *testing.T) {
	t.Parallel()
	cp := framework.Get()
	ns := framework.CreateNamespace(t, kubernetes.NewForConfigOrDie(cp.Config))
	dyn := dynamic.NewForConfigOrDie(cp.Config)
	client := versioned.NewForConfigOrDie(cp.Config)
	ca := testCAPEM(t)
	twoCAs := jsonString(ca + "\n" + testCAPEM(t))

	headers := make([]string, 16)
	for i := range headers {
		headers[i] = fmt.Sprintf(`{"name":"X-H%d","value":%q}`, i, strings.Repeat("v", 4096))
	}
	statuses := make([]string, 10)
	for i := range statuses {
		statuses[i] = fmt.Sprintf(`{"min":%d,"max":%d}`, 200+i*10, 205+i*10)
	}
	ports := make([]string, 100)
	for i := range ports {
		ports[i] = fmt.Sprintf(`{"name":"p%d","port":%d}`, i, 1000+i)
	}
	bigCA := jsonString(strings.Repeat(ca, 65000/len(ca)))
	largest := strings.Replace(manyEndpoints(1000), `{"port":80,`, `{"ports":[`+strings.Join(ports, ",")+`],`, 1)
	largest = strings.TrimSuffix(largest, "}") + `,"probe":{"type":"HTTPS","port":"p99","failOpen":true,` +
		`"http":{"method":"HEAD","path":"/` + strings.Repeat("p", 2047) + `","host":"api.example.com:8443",` +
		`"headers":[` + strings.Join(headers, ",") + `],"expectedStatuses":[` + strings.Join(statuses, ",") + `]},` +
		`"tls":{"serverName":"api.example.com","caBundle":` + bigCA + `}}}`

	for name, spec := range map[string]string{
		"http-minimal":   `{"ip":"10.0.0.1","port":8080,"probe":{"type":"HTTP"}}`,
		"http-full":      `{"ip":"10.0.0.1","port":8080,"probe":{"type":"HTTP","http":{"method":"HEAD","path":"/healthz?full=1","host":"api.example.com","headers":[{"name":"Authorization","value":"Bearer abc"},{"name":"User-Agent","value":"mine"}],"expectedStatuses":[{"min":200,"max":299},{"min":302}]}}}`,
		"http-ipv6-host": `{"ip":"10.0.0.1","port":8080,"probe":{"type":"HTTP","http":{"host":"[2001:db8::1]:8080"}}}`,
		"https-ca":       `{"ip":"10.0.0.1","port":443,"probe":{"type":"HTTPS","http":{"path":"/ready"},"tls":{"serverName":"api.example.com","caBundle":` + twoCAs + `}}}`,
		"https-skip":     `{"ip":"10.0.0.1","port":443,"probe":{"type":"HTTPS","tls":{"insecureSkipVerify":true}}}`,
		"https-ip-name":  `{"ip":"10.0.0.1","port":443,"probe":{"type":"HTTPS","tls":{"serverName":"10.0.0.1"}}}`,
		"https-no-tls":   `{"ip":"10.0.0.1","port":443,"probe":{"type":"HTTPS"}}`,
		"grpc-plain":     `{"ip":"10.0.0.1","port":9090,"probe":{"type":"GRPC"}}`,
		"grpc-tls":       `{"endpoints":[{"ip":"10.0.0.1"},{"hostname":"db.example.com"}],"ports":[{"name":"grpc","port":9090,"appProtocol":"kubernetes.io/h2c"}],"probe":{"type":"GRPC","port":"grpc","grpc":{"service":"my.pkg.Service"},"tls":{"caBundle":` + jsonString(ca) + `}}}`,
		"fail-open":      `{"ip":"10.0.0.1","port":80,"probe":{"type":"TCP","failOpen":true}}`,
		"largest":        largest,
	} {
		t.Run(name, func(t *testing.T) {
			if err := createSpec(t, dyn, ns, name, spec); err != nil {
				t.Fatalf("rejected: %v", err)
			}
		})
	}

	// Defaults of an HTTP probe are those of kubelet's httpGet.
	md, err := client.CrddemoV1().Mydemos(ns).Get(context.Background(), "http-minimal", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if md.Spec.Probe.HTTP != nil {
		t.Errorf("http section appeared without being written: %+v", md.Spec.Probe.HTTP)
	}
	md, err = client.CrddemoV1().Mydemos(ns).Get(context.Background(), "https-ca", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h := md.Spec.Probe.HTTP
	if h == nil || h.Method != crddemov1.HTTPMethodGet || h.Path != "/ready" || len(h.ExpectedStatuses) != 1 ||
		h.ExpectedStatuses[0].Min != 200 || h.ExpectedStatuses[0].Max == nil || *h.ExpectedStatuses[0].Max != 399 {
		t.Errorf("http defaults: %+v", h)
	}
	if md.Spec.Probe.FailOpen {
		t.Error("failOpen defaulted to true")
	}
}

// TestProbeKindsExplain: kubectl explain documents the probe kinds.
func TestProbeKindsExplain(t *testing.T) {
	t.Parallel()
	cp := framework.Get()
	for field, want := range map[string][]string{
		"mydemo.spec.probe":                       {"HTTP", "HTTPS", "GRPC", "http", "tls", "grpc", "failOpen", "panic mode"},
		"mydemo.spec.probe.http":                  {"method", "path", "host", "headers", "expectedStatuses", "200 to 399", "redirect"},
		"mydemo.spec.probe.http.expectedStatuses": {"min", "max", "100 to 599"},
		"mydemo.spec.probe.http.headers":          {"name", "value", "User-Agent"},
		"mydemo.spec.probe.tls":                   {"serverName", "caBundle", "insecureSkipVerify", "PEM", "64 KiB"},
		"mydemo.spec.probe.grpc":                  {"service", "grpc.health.v1.Health/Check", "SERVING"},
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
