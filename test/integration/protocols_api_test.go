package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/generated/clientset/versioned"
	"github.com/crddemo/crddemo/test/framework"
)

// TestProtocolProbesRejected: the settings of the protocol probes (issue
// 28) that cannot work are rejected at admission, by the real API server,
// naming the field, and a payload over its bound says the bound.
func TestProtocolProbesRejected(t *testing.T) {
	t.Parallel()
	cp := framework.Get()
	ns := framework.CreateNamespace(t, kubernetes.NewForConfigOrDie(cp.Config))
	dyn := dynamic.NewForConfigOrDie(cp.Config)

	tcp := func(p string) string { return `{"ip":"10.0.0.1","port":6379,"probe":` + p + `}` }
	udp := func(p string) string { return `{"ip":"10.0.0.1","port":53,"protocol":"UDP","probe":` + p + `}` }
	text1025 := jsonString(strings.Repeat("a", 1025))
	// 342 three-byte characters: within the 1024 characters the schema
	// counts, over the 1024 bytes the probe sends.
	wide := jsonString(strings.Repeat("€", 342))
	hex2050 := jsonString(strings.Repeat("0d", 1025))
	mixed := `{"ip":"10.0.0.1","ports":[{"name":"redis","port":6379},{"name":"dns","port":53,"protocol":"UDP"}],"probe":`

	for _, tc := range []struct {
		name, spec, wantField, wantMsg string
	}{
		// Sections on the wrong kind; send and expect on a kind without them.
		{"tcp on HTTP", tcp(`{"type":"HTTP","tcp":{"send":"PING\r\n"}}`), "spec.probe.tcp", "probe.tcp (send and expect) applies only to probe.type TCP"},
		{"tcp on Redis", tcp(`{"type":"Redis","tcp":{"expect":"+PONG"}}`), "spec.probe.tcp", "probe.tcp (send and expect) applies only to probe.type TCP"},
		{"tcp on UDP", udp(`{"type":"UDP","udp":{"send":"x"},"tcp":{"send":"x"}}`), "spec.probe.tcp", "probe.tcp (send and expect) applies only to probe.type TCP"},
		{"redis on TCP", tcp(`{"redis":{"role":"master"}}`), "spec.probe.redis", "probe.redis applies only to probe.type Redis"},
		{"postgres on MySQL", tcp(`{"type":"MySQL","postgres":{"user":"x"}}`), "spec.probe.postgres", "probe.postgres applies only to probe.type Postgres"},
		{"udp on DNS", udp(`{"type":"DNS","dns":{"name":"example.com"},"udp":{"send":"x"}}`), "spec.probe.udp", "probe.udp applies only to probe.type UDP"},
		{"udp on TCP", tcp(`{"udp":{"send":"x"}}`), "spec.probe.udp", "probe.udp applies only to probe.type UDP"},
		{"dns on UDP", udp(`{"type":"UDP","udp":{"send":"x"},"dns":{"name":"example.com"}}`), "spec.probe.dns", "probe.dns applies only to probe.type DNS"},
		{"http on Redis", tcp(`{"type":"Redis","http":{"path":"/"}}`), "spec.probe.http", "probe.http applies only to probe.type HTTP or HTTPS"},
		{"tls on Postgres", tcp(`{"type":"Postgres","tls":{}}`), "spec.probe.tls", "probe.tls applies only to probe.type HTTPS, GRPC, TCP or Redis"},
		{"tls on MySQL", tcp(`{"type":"MySQL","tls":{}}`), "spec.probe.tls", "probe.tls applies only to probe.type HTTPS, GRPC, TCP or Redis"},
		{"tls on UDP", udp(`{"type":"UDP","udp":{"send":"x"},"tls":{}}`), "spec.probe.tls", "probe.tls applies only to probe.type HTTPS, GRPC, TCP or Redis"},
		{"tls on DNS", udp(`{"type":"DNS","dns":{"name":"example.com"},"tls":{}}`), "spec.probe.tls", "probe.tls applies only to probe.type HTTPS, GRPC, TCP or Redis"},
		{"tls on HTTP", tcp(`{"type":"HTTP","tls":{}}`), "spec.probe.tls", "probe.tls applies only to probe.type HTTPS, GRPC, TCP or Redis"},

		// Payloads: bounds, hex, exclusive forms.
		{"tcp send over 1 KiB", tcp(`{"tcp":{"send":` + text1025 + `}}`), "spec.probe.tcp.send", "Too long: may not be more than 1024 bytes"},
		{"tcp send over 1 KiB of UTF-8", tcp(`{"tcp":{"send":` + wide + `}}`), "spec.probe.tcp.send", "must be at most 1 KiB (1024 bytes in UTF-8)"},
		{"tcp expect over 1 KiB", tcp(`{"tcp":{"expect":` + text1025 + `}}`), "spec.probe.tcp.expect", "Too long: may not be more than 1024 bytes"},
		{"tcp sendHex over 1 KiB", tcp(`{"tcp":{"sendHex":` + hex2050 + `}}`), "spec.probe.tcp.sendHex", "must be at most 1 KiB (2048 hex digits)"},
		{"udp expectHex over 1 KiB", udp(`{"type":"UDP","udp":{"send":"x","expectHex":` + hex2050 + `}}`), "spec.probe.udp.expectHex", "must be at most 1 KiB (2048 hex digits)"},
		{"udp send over 1 KiB", udp(`{"type":"UDP","udp":{"send":` + text1025 + `}}`), "spec.probe.udp.send", "Too long: may not be more than 1024 bytes"},
		{"http expectBody over 1 KiB", tcp(`{"type":"HTTP","http":{"expectBody":` + text1025 + `}}`), "spec.probe.http.expectBody", "Too long: may not be more than 1024 bytes"},
		{"http expectBody over 1 KiB of UTF-8", tcp(`{"type":"HTTP","http":{"expectBody":` + wide + `}}`), "spec.probe.http.expectBody", "must be at most 1 KiB (1024 bytes in UTF-8)"},
		{"udp expect over 1 KiB of UTF-8", udp(`{"type":"UDP","udp":{"send":"x","expect":` + wide + `}}`), "spec.probe.udp.expect", "must be at most 1 KiB (1024 bytes in UTF-8)"},
		{"http expectBodyRegex over 1 KiB", tcp(`{"type":"HTTP","http":{"expectBodyRegex":` + text1025 + `}}`), "spec.probe.http.expectBodyRegex", "Too long: may not be more than 1024 bytes"},
		{"hex not hex", tcp(`{"tcp":{"sendHex":"0g"}}`), "spec.probe.tcp.sendHex", "must be hex digits, two per byte"},
		{"hex with 0x", udp(`{"type":"UDP","udp":{"sendHex":"0x1b"}}`), "spec.probe.udp.sendHex", "must be hex digits, two per byte"},
		{"hex with spaces", tcp(`{"tcp":{"expectHex":"0d 0a"}}`), "spec.probe.tcp.expectHex", "must be hex digits, two per byte"},
		{"hex of odd length", tcp(`{"tcp":{"expectHex":"0d0"}}`), "spec.probe.tcp.expectHex", "must be hex digits, two per byte"},
		{"empty send", tcp(`{"tcp":{"send":""}}`), "spec.probe.tcp.send", "at least 1 chars long"},
		{"tcp send and sendHex", tcp(`{"tcp":{"send":"a","sendHex":"61"}}`), "spec.probe.tcp.sendHex", "send and sendHex cannot both be set"},
		{"tcp expect and expectHex", tcp(`{"tcp":{"expect":"a","expectHex":"61"}}`), "spec.probe.tcp.expectHex", "expect and expectHex cannot both be set"},
		{"udp send and sendHex", udp(`{"type":"UDP","udp":{"send":"a","sendHex":"61"}}`), "spec.probe.udp.sendHex", "send and sendHex cannot both be set"},
		{"udp expect and expectHex", udp(`{"type":"UDP","udp":{"send":"a","expect":"a","expectHex":"61"}}`), "spec.probe.udp.expectHex", "expect and expectHex cannot both be set"},
		{"udp without a section", udp(`{"type":"UDP"}`), "spec.probe.udp", "a UDP probe needs probe.udp with send or sendHex"},
		{"udp without send", udp(`{"type":"UDP","udp":{"expect":"pong"}}`), "spec.probe.udp.send", "set send or sendHex"},
		{"expectBody and expectBodyRegex", tcp(`{"type":"HTTP","http":{"expectBody":"ok","expectBodyRegex":"ok"}}`), "spec.probe.http.expectBodyRegex", "expectBody and expectBodyRegex cannot both be set"},
		{"expectBody on HEAD", tcp(`{"type":"HTTP","http":{"method":"HEAD","expectBody":"ok"}}`), "spec.probe.http.method", "a HEAD request has no body to check"},
		{"expectBodyRegex not RE2", tcp(`{"type":"HTTPS","http":{"expectBodyRegex":"(ok"}}`), "spec.probe.http.expectBodyRegex", "missing closing )"},
		{"expectBodyRegex with a lookahead", tcp(`{"type":"HTTP","http":{"expectBodyRegex":"ok(?=1)"}}`), "spec.probe.http.expectBodyRegex", "invalid or unsupported Perl syntax"},

		// The sections' own fields.
		{"redis role unknown", tcp(`{"type":"Redis","redis":{"role":"slave"}}`), "spec.probe.redis.role", `supported values: "master", "replica"`},
		{"postgres user with a NUL", tcp(`{"type":"Postgres","postgres":{"user":"a\u0000b"}}`), "spec.probe.postgres.user", "must not contain control characters"},
		{"postgres database too long", tcp(`{"type":"Postgres","postgres":{"database":` + jsonString(strings.Repeat("d", 64)) + `}}`), "spec.probe.postgres.database", "Too long"},
		{"dns without a section", udp(`{"type":"DNS"}`), "spec.probe.dns", "a DNS probe needs probe.dns with the name to ask for"},
		{"dns without name", udp(`{"type":"DNS","dns":{"type":"A"}}`), "spec.probe.dns.name", "Required value"},
		{"dns name not a name", udp(`{"type":"DNS","dns":{"name":"exa mple.com"}}`), "spec.probe.dns.name", "must be a DNS name"},
		{"dns name with an empty label", udp(`{"type":"DNS","dns":{"name":"example..com"}}`), "spec.probe.dns.name", "must be a DNS name"},
		{"dns type MX", udp(`{"type":"DNS","dns":{"name":"example.com","type":"MX"}}`), "spec.probe.dns.type", `supported values: "A", "AAAA"`},

		// Ports: a UDP or DNS probe needs a UDP port, every other kind a TCP one.
		{"UDP probe of a TCP port", tcp(`{"type":"UDP","udp":{"send":"x"}}`), "spec.probe.type", "a UDP or DNS probe needs protocol UDP"},
		{"DNS probe of a TCP port", tcp(`{"type":"DNS","dns":{"name":"example.com"}}`), "spec.probe.type", "a UDP or DNS probe needs protocol UDP"},
		{"Redis probe of a UDP port", udp(`{"type":"Redis"}`), "spec.probe.type", "a TCP, HTTP, HTTPS, GRPC, Redis, Postgres or MySQL probe needs protocol TCP"},
		{"TCP send of a UDP port", udp(`{"tcp":{"send":"x"}}`), "spec.probe.type", "needs protocol TCP: for a UDP port use probe.type UDP or DNS"},
		{"DNS probe naming a TCP port", mixed + `{"type":"DNS","port":"redis","dns":{"name":"example.com"}}}`, "spec.probe.port", "the probed port of a UDP or DNS probe must be a UDP port"},
		{"UDP probe naming a TCP port by number", mixed + `{"type":"UDP","port":6379,"udp":{"send":"x"}}}`, "spec.probe.port", "the probed port of a UDP or DNS probe must be a UDP port"},
		{"DNS probe with no UDP port", `{"ip":"10.0.0.1","ports":[{"name":"dns","port":53}],"probe":{"type":"DNS","dns":{"name":"example.com"}}}`, "spec.probe.port", "the probed port of a UDP or DNS probe must be a UDP port"},
		{"Postgres probe naming a UDP port", mixed + `{"type":"Postgres","port":"dns"}}`, "spec.probe.port", "the probed port must be a TCP port"},
		{"MySQL probe with only UDP ports", `{"ip":"10.0.0.1","ports":[{"name":"dns","port":53,"protocol":"UDP"}],"probe":{"type":"MySQL"}}`, "spec.probe.port", "the probed port must be a TCP port"},
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

// TestProtocolProbesAccepted: every valid form of the protocol probes is
// accepted, written as YAML as a user writes it, and the text arrives
// byte for byte: YAML escapes such as "\r\n" become the bytes they name,
// and hex stays as written for the controller to decode.
func TestProtocolProbesAccepted(t *testing.T) {
	t.Parallel()
	cp := framework.Get()
	ns := framework.CreateNamespace(t, kubernetes.NewForConfigOrDie(cp.Config))
	dyn := dynamic.NewForConfigOrDie(cp.Config)
	client := versioned.NewForConfigOrDie(cp.Config)

	ntp := "1b" + strings.Repeat("00", 47)
	// The largest object with a UDP probe: 1000 endpoints, 100 ports with
	// the only UDP port last (the port rules look at every port), and
	// payloads at their bounds, within the API server's CEL cost budget.
	ports := make([]string, 100)
	for i := range ports {
		ports[i] = fmt.Sprintf(`{"name":"p%d","port":%d}`, i, 1000+i)
	}
	ports[99] = `{"name":"p99","port":1099,"protocol":"UDP"}`
	largest := strings.Replace(manyEndpoints(1000), `{"port":80,`, `{"ports":[`+strings.Join(ports, ",")+`],`, 1)
	largest = strings.TrimSuffix(largest, "}") + `,"probe":{"type":"UDP","port":1099,"udp":{"sendHex":"` +
		strings.Repeat("ff", 1024) + `","expect":` + jsonString(strings.Repeat("€", 341)) + `}}}`
	if err := createSpec(t, dyn, ns, "udp-largest", largest); err != nil {
		t.Fatalf("the largest UDP-probed Mydemo rejected: %v", err)
	}

	for name, doc := range map[string]string{
		"tcp-send-expect":  "ip: 10.0.0.1\nport: 6379\nprobe:\n  type: TCP\n  tcp:\n    send: \"PING\\r\\n\"\n    expect: \"+PONG\\r\\n\"\n",
		"tcp-banner":       "ip: 10.0.0.1\nport: 25\nprobe:\n  tcp:\n    expect: \"220\"\n",
		"tcp-hex":          "ip: 10.0.0.1\nport: 7000\nprobe:\n  tcp:\n    sendHex: 0D0a00ff\n    expectHex: \"00\"\n",
		"tcp-tls":          "ip: 10.0.0.1\nport: 6380\nprobe:\n  tcp:\n    send: \"PING\\r\\n\"\n    expect: +PONG\n  tls:\n    serverName: redis.example.com\n",
		"tcp-tls-only":     "ip: 10.0.0.1\nport: 993\nprobe:\n  type: TCP\n  tls: {}\n",
		"tcp-largest":      "ip: 10.0.0.1\nport: 7000\nprobe:\n  tcp:\n    send: " + strings.Repeat("s", 1024) + "\n    expectHex: " + strings.Repeat("Ab", 1024) + "\n",
		"tcp-utf8":         "ip: 10.0.0.1\nport: 7000\nprobe:\n  tcp:\n    send: \"" + strings.Repeat("€", 341) + "\"\n",
		"http-body":        "ip: 10.0.0.1\nport: 8080\nprobe:\n  type: HTTP\n  http:\n    path: /healthz\n    expectBody: '\"status\":\"ok\"'\n",
		"https-body-regex": "ip: 10.0.0.1\nport: 443\nprobe:\n  type: HTTPS\n  http:\n    expectBodyRegex: '^\\{\"status\": ?\"(ok|healthy)\"'\n  tls:\n    insecureSkipVerify: true\n",
		"redis":            "ip: 10.0.0.1\nport: 6379\nprobe:\n  type: Redis\n",
		"redis-role-tls":   "ip: 10.0.0.1\nport: 6380\nprobe:\n  type: Redis\n  redis:\n    role: replica\n  tls: {}\n",
		"postgres":         "ip: 10.0.0.1\nport: 5432\nprobe:\n  type: Postgres\n",
		"postgres-user":    "ip: 10.0.0.1\nport: 5432\nprobe:\n  type: Postgres\n  postgres:\n    user: probe\n    database: postgres\n",
		"mysql":            "ip: 10.0.0.1\nport: 3306\nprobe:\n  type: MySQL\n",
		"udp-syslog":       "ip: 10.0.0.1\nport: 514\nprotocol: UDP\nprobe:\n  type: UDP\n  udp:\n    send: \"<14>crddemo probe\\n\"\n",
		"udp-ntp":          "ip: 10.0.0.1\nport: 123\nprotocol: UDP\nprobe:\n  type: UDP\n  udp:\n    sendHex: " + ntp + "\n    expectHex: \"1c\"\n",
		"dns":              "ip: 10.0.0.1\nport: 53\nprotocol: UDP\nprobe:\n  type: DNS\n  dns:\n    name: example.com\n",
		"dns-aaaa-abs":     "ip: 10.0.0.1\nport: 53\nprotocol: UDP\nprobe:\n  type: DNS\n  dns:\n    name: _health.Example.COM.\n    type: AAAA\n",
		"dns-of-ports":     "ip: 10.0.0.1\nports:\n- {name: dns-tcp, port: 53}\n- {name: dns, port: 53, protocol: UDP}\nprobe:\n  type: DNS\n  dns:\n    name: example.com\n",
		"dns-named-port":   "ip: 10.0.0.1\nports:\n- {name: web, port: 80}\n- {name: dns, port: 53, protocol: UDP}\nprobe:\n  type: DNS\n  port: dns\n  dns:\n    name: example.com\n",
		"redis-of-ports":   "ip: 10.0.0.1\nports:\n- {name: bus, port: 514, protocol: UDP}\n- {name: redis, port: 6379}\nprobe:\n  type: Redis\n",
	} {
		t.Run(name, func(t *testing.T) {
			js, err := yaml.YAMLToJSON([]byte(doc))
			if err != nil {
				t.Fatalf("YAML: %v", err)
			}
			if err := createSpec(t, dyn, ns, name, string(js)); err != nil {
				t.Fatalf("rejected: %v\n%s", err, doc)
			}
		})
	}

	get := func(name string) *crddemov1.Probe {
		t.Helper()
		md, err := client.CrddemoV1().Mydemos(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return md.Spec.Probe
	}
	if p := get("tcp-send-expect"); p.TCP == nil || p.TCP.Send != "PING\r\n" || p.TCP.Expect != "+PONG\r\n" {
		t.Errorf("tcp section stored as %+v, want the bytes of PING\\r\\n and +PONG\\r\\n", p.TCP)
	}
	if p := get("tcp-hex"); p.TCP == nil || p.TCP.SendHex != "0D0a00ff" || p.TCP.ExpectHex != "00" {
		t.Errorf("tcp hex stored as %+v", p.TCP)
	}
	if p := get("dns"); p.DNS == nil || p.DNS.Name != "example.com" || p.DNS.Type != "" {
		t.Errorf("dns section stored as %+v; want the name and no type written (the controller defaults it to A)", p.DNS)
	}
	if p := get("postgres"); p.Postgres != nil {
		t.Errorf("postgres section appeared without being written: %+v", p.Postgres)
	}
}

// TestProtocolProbesExplain: kubectl explain documents the new sections.
func TestProtocolProbesExplain(t *testing.T) {
	t.Parallel()
	cp := framework.Get()
	for field, want := range map[string][]string{
		"mydemo.spec.probe":          {"Redis", "Postgres", "MySQL", "UDP", "DNS", "tcp", "redis", "postgres", "udp", "dns", "first UDP port"},
		"mydemo.spec.probe.tcp":      {"send", "sendHex", "expect", "expectHex", "1 KiB", `\r\n`, "220"},
		"mydemo.spec.probe.http":     {"expectBody", "expectBodyRegex", "RE2"},
		"mydemo.spec.probe.redis":    {"role", "master", "replica", "PING"},
		"mydemo.spec.probe.postgres": {"user", "database", "crddemo-probe", "pg_hba.conf", "password"},
		"mydemo.spec.probe.udp":      {"send", "sendHex", "expect", "port unreachable", "no reply"},
		"mydemo.spec.probe.dns":      {"name", "type", "AAAA", "NOERROR", "SERVFAIL"},
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
