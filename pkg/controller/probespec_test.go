package controller

import (
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/probe"
	"github.com/crddemo/crddemo/pkg/probe/check"
)

func TestProbeSpec(t *testing.T) {
	max := int32(299)
	tests := map[string]struct {
		in   *crddemov1.Probe
		want check.Spec
	}{
		"no probe":   {nil, check.Spec{Kind: check.KindTCP}},
		"type unset": {&crddemov1.Probe{}, check.Spec{Kind: check.KindTCP}},
		"TCP":        {&crddemov1.Probe{Type: crddemov1.ProbeTypeTCP}, check.Spec{Kind: check.KindTCP}},
		"HTTP bare":  {&crddemov1.Probe{Type: crddemov1.ProbeTypeHTTP}, check.Spec{Kind: check.KindHTTP}},
		"HTTP": {
			&crddemov1.Probe{Type: crddemov1.ProbeTypeHTTP, HTTP: &crddemov1.HTTPProbe{
				Method: crddemov1.HTTPMethodHead, Path: "/healthz", Host: "api.example.com",
				Headers:          []crddemov1.HTTPHeader{{Name: "X-Probe", Value: "1"}},
				ExpectedStatuses: []crddemov1.StatusRange{{Min: 200, Max: &max}, {Min: 429}},
			}},
			check.Spec{Kind: check.KindHTTP, HTTP: &check.HTTPSpec{
				Method: "HEAD", Path: "/healthz", Host: "api.example.com",
				Headers:          []check.Header{{Name: "X-Probe", Value: "1"}},
				ExpectedStatuses: []check.StatusRange{{Min: 200, Max: 299}, {Min: 429}},
			}},
		},
		"HTTPS with a CA": {
			&crddemov1.Probe{Type: crddemov1.ProbeTypeHTTPS, HTTP: &crddemov1.HTTPProbe{Path: "/"},
				TLS: &crddemov1.ProbeTLS{ServerName: "api.example.com", CABundle: "PEM"}},
			check.Spec{Kind: check.KindHTTPS, HTTP: &check.HTTPSpec{Path: "/"},
				TLS: &check.TLSSpec{ServerName: "api.example.com", CABundle: []byte("PEM")}},
		},
		"gRPC over TLS": {
			&crddemov1.Probe{Type: crddemov1.ProbeTypeGRPC, GRPC: &crddemov1.GRPCProbe{Service: "orders"},
				TLS: &crddemov1.ProbeTLS{InsecureSkipVerify: true}},
			check.Spec{Kind: check.KindGRPC, GRPC: &check.GRPCSpec{Service: "orders"},
				TLS: &check.TLSSpec{InsecureSkipVerify: true}},
		},
		"gRPC plain text": {
			&crddemov1.Probe{Type: crddemov1.ProbeTypeGRPC},
			check.Spec{Kind: check.KindGRPC},
		},
		"TCP send and expect as text": {
			&crddemov1.Probe{Type: crddemov1.ProbeTypeTCP, TCP: &crddemov1.TCPProbe{Send: "PING\r\n", Expect: "+PONG"}},
			check.Spec{Kind: check.KindTCP, TCP: &check.TCPSpec{Send: []byte("PING\r\n"), Expect: []byte("+PONG")}},
		},
		"TCP hex decoded, either case, over TLS": {
			&crddemov1.Probe{Type: crddemov1.ProbeTypeTCP, TCP: &crddemov1.TCPProbe{SendHex: "0D0a00Ff", ExpectHex: "2b"},
				TLS: &crddemov1.ProbeTLS{ServerName: "redis.example.com"}},
			check.Spec{Kind: check.KindTCP, TCP: &check.TCPSpec{Send: []byte{0x0d, 0x0a, 0x00, 0xff}, Expect: []byte("+")},
				TLS: &check.TLSSpec{ServerName: "redis.example.com"}},
		},
		"TCP banner only": {
			&crddemov1.Probe{Type: crddemov1.ProbeTypeTCP, TCP: &crddemov1.TCPProbe{Expect: "220"}},
			check.Spec{Kind: check.KindTCP, TCP: &check.TCPSpec{Expect: []byte("220")}},
		},
		"TCP empty section is a connect": {
			&crddemov1.Probe{Type: crddemov1.ProbeTypeTCP, TCP: &crddemov1.TCPProbe{}},
			check.Spec{Kind: check.KindTCP},
		},
		"HTTP body": {
			&crddemov1.Probe{Type: crddemov1.ProbeTypeHTTP, HTTP: &crddemov1.HTTPProbe{Path: "/", ExpectBody: `"ok"`}},
			check.Spec{Kind: check.KindHTTP, HTTP: &check.HTTPSpec{Path: "/", ExpectBody: `"ok"`}},
		},
		"HTTPS body regex": {
			&crddemov1.Probe{Type: crddemov1.ProbeTypeHTTPS, HTTP: &crddemov1.HTTPProbe{ExpectBodyRegex: "^ok|healthy$"}},
			check.Spec{Kind: check.KindHTTPS, HTTP: &check.HTTPSpec{ExpectBodyRegex: "^ok|healthy$"}},
		},
		"Redis any role": {
			&crddemov1.Probe{Type: crddemov1.ProbeTypeRedis, Redis: &crddemov1.RedisProbe{}},
			check.Spec{Kind: check.KindRedis},
		},
		"Redis replica over TLS": {
			&crddemov1.Probe{Type: crddemov1.ProbeTypeRedis, Redis: &crddemov1.RedisProbe{Role: crddemov1.RedisRoleReplica},
				TLS: &crddemov1.ProbeTLS{InsecureSkipVerify: true}},
			check.Spec{Kind: check.KindRedis, Redis: &check.RedisSpec{Role: check.RedisRoleReplica}, TLS: &check.TLSSpec{InsecureSkipVerify: true}},
		},
		"Postgres defaults": {
			&crddemov1.Probe{Type: crddemov1.ProbeTypePostgres},
			check.Spec{Kind: check.KindPostgres, Postgres: &check.PostgresSpec{User: "crddemo-probe", Database: "crddemo-probe"}},
		},
		"Postgres database defaults to the user": {
			&crddemov1.Probe{Type: crddemov1.ProbeTypePostgres, Postgres: &crddemov1.PostgresProbe{User: "probe"}},
			check.Spec{Kind: check.KindPostgres, Postgres: &check.PostgresSpec{User: "probe", Database: "probe"}},
		},
		"Postgres database only": {
			&crddemov1.Probe{Type: crddemov1.ProbeTypePostgres, Postgres: &crddemov1.PostgresProbe{Database: "postgres"}},
			check.Spec{Kind: check.KindPostgres, Postgres: &check.PostgresSpec{User: "crddemo-probe", Database: "postgres"}},
		},
		"MySQL": {&crddemov1.Probe{Type: crddemov1.ProbeTypeMySQL}, check.Spec{Kind: check.KindMySQL}},
		"UDP text": {
			&crddemov1.Probe{Type: crddemov1.ProbeTypeUDP, UDP: &crddemov1.UDPProbe{Send: "<14>probe\n", Expect: "ok"}},
			check.Spec{Kind: check.KindUDP, UDP: &check.UDPSpec{Send: []byte("<14>probe\n"), Expect: []byte("ok")}},
		},
		"UDP hex": {
			&crddemov1.Probe{Type: crddemov1.ProbeTypeUDP, UDP: &crddemov1.UDPProbe{SendHex: "1b00", ExpectHex: "1C"}},
			check.Spec{Kind: check.KindUDP, UDP: &check.UDPSpec{Send: []byte{0x1b, 0}, Expect: []byte{0x1c}}},
		},
		"DNS type defaults to A": {
			&crddemov1.Probe{Type: crddemov1.ProbeTypeDNS, DNS: &crddemov1.DNSProbe{Name: "example.com"}},
			check.Spec{Kind: check.KindDNS, DNS: &check.DNSSpec{Name: "example.com", Type: check.DNSTypeA}},
		},
		"DNS AAAA": {
			&crddemov1.Probe{Type: crddemov1.ProbeTypeDNS, DNS: &crddemov1.DNSProbe{Name: "example.com.", Type: crddemov1.DNSRecordTypeAAAA}},
			check.Spec{Kind: check.KindDNS, DNS: &check.DNSSpec{Name: "example.com.", Type: check.DNSTypeAAAA}},
		},
		// Stored before admission refused them: ignored, as the type says.
		"tls on Postgres": {
			&crddemov1.Probe{Type: crddemov1.ProbeTypePostgres, TLS: &crddemov1.ProbeTLS{}},
			check.Spec{Kind: check.KindPostgres, Postgres: &check.PostgresSpec{User: "crddemo-probe", Database: "crddemo-probe"}},
		},
		"sections of other kinds": {
			&crddemov1.Probe{Type: crddemov1.ProbeTypeMySQL, HTTP: &crddemov1.HTTPProbe{Path: "/x"},
				TLS: &crddemov1.ProbeTLS{ServerName: "x"}, GRPC: &crddemov1.GRPCProbe{Service: "x"},
				TCP: &crddemov1.TCPProbe{Send: "x"}, Redis: &crddemov1.RedisProbe{Role: crddemov1.RedisRoleMaster},
				Postgres: &crddemov1.PostgresProbe{User: "x"}, UDP: &crddemov1.UDPProbe{Send: "x"}, DNS: &crddemov1.DNSProbe{Name: "x"}},
			check.Spec{Kind: check.KindMySQL},
		},
		"sections of other kinds on TCP": {
			&crddemov1.Probe{Type: crddemov1.ProbeTypeTCP, HTTP: &crddemov1.HTTPProbe{Path: "/x"}, GRPC: &crddemov1.GRPCProbe{Service: "x"},
				UDP: &crddemov1.UDPProbe{Send: "x"}},
			check.Spec{Kind: check.KindTCP},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := probeSpec(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("probeSpec = %+v, want %+v", got, tc.want)
			}
		})
	}
	tg := appProbeTarget(&crddemov1.Probe{Type: crddemov1.ProbeTypeGRPC, PeriodSeconds: 7}, "127.0.0.1:80")
	if tg.Spec.Kind != check.KindGRPC || tg.Period.Seconds() != 7 || tg.Address != "127.0.0.1:80" {
		t.Errorf("appProbeTarget = %+v", tg)
	}
}

// TestProbeTargetDefaults: a Mydemo without a probe is probed on the API's
// defaults, taken from their one home in the API package; the fields of a
// probe the API server stored are passed on as they are, zero included
// (the prober defaults those to the same constants).
func TestProbeTargetDefaults(t *testing.T) {
	tg := appProbeTarget(nil, "10.1.2.3:80")
	want := probe.Target{
		Address:          "10.1.2.3:80",
		Spec:             check.Spec{Kind: check.KindTCP},
		Period:           time.Duration(crddemov1.DefaultProbePeriodSeconds) * time.Second,
		EdgeInterval:     time.Duration(crddemov1.DefaultProbeEdgeIntervalSeconds) * time.Second,
		Timeout:          time.Duration(crddemov1.DefaultProbeTimeoutSeconds) * time.Second,
		SuccessThreshold: int(crddemov1.DefaultProbeSuccessThreshold),
		FailureThreshold: int(crddemov1.DefaultProbeFailureThreshold),
	}
	if !reflect.DeepEqual(tg, want) {
		t.Errorf("appProbeTarget(nil) = %+v, want %+v", tg, want)
	}
	tg = appProbeTarget(&crddemov1.Probe{Type: crddemov1.ProbeTypeTCP, PeriodSeconds: 5, EdgeIntervalSeconds: 3, TimeoutSeconds: 2, SuccessThreshold: 4, FailureThreshold: 6}, "10.1.2.3:80")
	if tg.Period != 5*time.Second || tg.EdgeInterval != 3*time.Second || tg.Timeout != 2*time.Second || tg.SuccessThreshold != 4 || tg.FailureThreshold != 6 {
		t.Errorf("appProbeTarget of a full probe = %+v", tg)
	}
	tg = appProbeTarget(&crddemov1.Probe{Type: crddemov1.ProbeTypeTCP}, "10.1.2.3:80")
	if tg.Period != 0 || tg.Timeout != 0 || tg.SuccessThreshold != 0 || tg.FailureThreshold != 0 {
		t.Errorf("appProbeTarget of a probe without its defaults = %+v; want zeros, for the prober to default", tg)
	}
}

// TestProbedPort: a UDP or DNS probe is aimed at the first UDP port, or the
// UDP port it names; every other kind at a TCP port, as before.
func TestProbedPort(t *testing.T) {
	web := servicePort{name: "web", port: 80, protocol: corev1.ProtocolTCP}
	dns := servicePort{name: "dns", port: 53, protocol: corev1.ProtocolUDP}
	syslog := servicePort{name: "syslog", port: 514, protocol: corev1.ProtocolUDP}
	named := func(typ crddemov1.ProbeType, port string) *crddemov1.Probe {
		p := &crddemov1.Probe{Type: typ}
		if port != "" {
			v := intstr.FromString(port)
			p.Port = &v
		}
		return p
	}
	for name, tc := range map[string]struct {
		probe   *crddemov1.Probe
		ports   []servicePort
		want    string // the name of the port probed; "" for none
		wantOff string
	}{
		"no probe":                {nil, []servicePort{dns, web}, "web", ""},
		"TCP":                     {named(crddemov1.ProbeTypeTCP, ""), []servicePort{dns, web}, "web", ""},
		"Redis":                   {named(crddemov1.ProbeTypeRedis, ""), []servicePort{dns, web}, "web", ""},
		"UDP: first UDP port":     {named(crddemov1.ProbeTypeUDP, ""), []servicePort{web, syslog, dns}, "syslog", ""},
		"DNS: first UDP port":     {named(crddemov1.ProbeTypeDNS, ""), []servicePort{web, dns}, "dns", ""},
		"DNS: the named UDP port": {named(crddemov1.ProbeTypeDNS, "dns"), []servicePort{web, syslog, dns}, "dns", ""},
		"DNS: a named TCP port":   {named(crddemov1.ProbeTypeDNS, "web"), []servicePort{web, dns}, "", "protocol TCP is not probed"},
		"UDP: no UDP port":        {named(crddemov1.ProbeTypeUDP, ""), []servicePort{web}, "", "protocol TCP is not probed"},
		"MySQL: only UDP ports":   {named(crddemov1.ProbeTypeMySQL, ""), []servicePort{dns}, "", "protocol UDP is not probed"},
		"None":                    {named(crddemov1.ProbeTypeNone, ""), []servicePort{dns}, "", "probe.type is None"},
	} {
		t.Run(name, func(t *testing.T) {
			got, off := probedPort(tc.probe, tc.ports)
			gotName := ""
			if got != nil {
				gotName = got.name
			}
			if gotName != tc.want || !strings.Contains(off, tc.wantOff) || (tc.wantOff == "") != (off == "") {
				t.Errorf("probedPort = %q, %q; want %q, %q", gotName, off, tc.want, tc.wantOff)
			}
		})
	}
}
