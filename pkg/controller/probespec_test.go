package controller

import (
	"reflect"
	"testing"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/probe"
)

func TestProbeSpec(t *testing.T) {
	max := int32(299)
	tests := map[string]struct {
		in   *crddemov1.Probe
		want probe.Spec
	}{
		"no probe":   {nil, probe.Spec{Kind: probe.KindTCP}},
		"type unset": {&crddemov1.Probe{}, probe.Spec{Kind: probe.KindTCP}},
		"TCP":        {&crddemov1.Probe{Type: crddemov1.ProbeTypeTCP}, probe.Spec{Kind: probe.KindTCP}},
		"HTTP bare":  {&crddemov1.Probe{Type: crddemov1.ProbeTypeHTTP}, probe.Spec{Kind: probe.KindHTTP}},
		"HTTP": {
			&crddemov1.Probe{Type: crddemov1.ProbeTypeHTTP, HTTP: &crddemov1.HTTPProbe{
				Method: crddemov1.HTTPMethodHead, Path: "/healthz", Host: "api.example.com",
				Headers:          []crddemov1.HTTPHeader{{Name: "X-Probe", Value: "1"}},
				ExpectedStatuses: []crddemov1.StatusRange{{Min: 200, Max: &max}, {Min: 429}},
			}},
			probe.Spec{Kind: probe.KindHTTP, HTTP: &probe.HTTPSpec{
				Method: "HEAD", Path: "/healthz", Host: "api.example.com",
				Headers:          []probe.Header{{Name: "X-Probe", Value: "1"}},
				ExpectedStatuses: []probe.StatusRange{{Min: 200, Max: 299}, {Min: 429}},
			}},
		},
		"HTTPS with a CA": {
			&crddemov1.Probe{Type: crddemov1.ProbeTypeHTTPS, HTTP: &crddemov1.HTTPProbe{Path: "/"},
				TLS: &crddemov1.ProbeTLS{ServerName: "api.example.com", CABundle: "PEM"}},
			probe.Spec{Kind: probe.KindHTTPS, HTTP: &probe.HTTPSpec{Path: "/"},
				TLS: &probe.TLSSpec{ServerName: "api.example.com", CABundle: []byte("PEM")}},
		},
		"gRPC over TLS": {
			&crddemov1.Probe{Type: crddemov1.ProbeTypeGRPC, GRPC: &crddemov1.GRPCProbe{Service: "orders"},
				TLS: &crddemov1.ProbeTLS{InsecureSkipVerify: true}},
			probe.Spec{Kind: probe.KindGRPC, GRPC: &probe.GRPCSpec{Service: "orders"},
				TLS: &probe.TLSSpec{InsecureSkipVerify: true}},
		},
		"gRPC plain text": {
			&crddemov1.Probe{Type: crddemov1.ProbeTypeGRPC},
			probe.Spec{Kind: probe.KindGRPC},
		},
		// Stored before admission refused them: ignored, as the type says.
		"sections of other kinds": {
			&crddemov1.Probe{Type: crddemov1.ProbeTypeTCP, HTTP: &crddemov1.HTTPProbe{Path: "/x"},
				TLS: &crddemov1.ProbeTLS{ServerName: "x"}, GRPC: &crddemov1.GRPCProbe{Service: "x"}},
			probe.Spec{Kind: probe.KindTCP},
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
	if tg.Spec.Kind != probe.KindGRPC || tg.Period.Seconds() != 7 || tg.Address != "127.0.0.1:80" {
		t.Errorf("appProbeTarget = %+v", tg)
	}
}
