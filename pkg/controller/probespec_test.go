package controller

import (
	"reflect"
	"testing"
	"time"

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
		// Stored before admission refused them: ignored, as the type says.
		"sections of other kinds": {
			&crddemov1.Probe{Type: crddemov1.ProbeTypeTCP, HTTP: &crddemov1.HTTPProbe{Path: "/x"},
				TLS: &crddemov1.ProbeTLS{ServerName: "x"}, GRPC: &crddemov1.GRPCProbe{Service: "x"}},
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
		Timeout:          time.Duration(crddemov1.DefaultProbeTimeoutSeconds) * time.Second,
		SuccessThreshold: int(crddemov1.DefaultProbeSuccessThreshold),
		FailureThreshold: int(crddemov1.DefaultProbeFailureThreshold),
	}
	if !reflect.DeepEqual(tg, want) {
		t.Errorf("appProbeTarget(nil) = %+v, want %+v", tg, want)
	}
	tg = appProbeTarget(&crddemov1.Probe{Type: crddemov1.ProbeTypeTCP, PeriodSeconds: 5, TimeoutSeconds: 2, SuccessThreshold: 4, FailureThreshold: 6}, "10.1.2.3:80")
	if tg.Period != 5*time.Second || tg.Timeout != 2*time.Second || tg.SuccessThreshold != 4 || tg.FailureThreshold != 6 {
		t.Errorf("appProbeTarget of a full probe = %+v", tg)
	}
	tg = appProbeTarget(&crddemov1.Probe{Type: crddemov1.ProbeTypeTCP}, "10.1.2.3:80")
	if tg.Period != 0 || tg.Timeout != 0 || tg.SuccessThreshold != 0 || tg.FailureThreshold != 0 {
		t.Errorf("appProbeTarget of a probe without its defaults = %+v; want zeros, for the prober to default", tg)
	}
}
