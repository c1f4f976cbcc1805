package controller

import (
	"time"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/probe"
	"github.com/crddemo/crddemo/pkg/probe/check"
)

// appProbeTarget turns md's probe settings into a prober target for
// address: the schedule, the thresholds, and the kind of check with its
// settings (the prober builds one Checker per distinct spec and shares it
// between the endpoints, and Mydemos, that have the same one). A field the
// API server did not default, which only an object built without it can
// lack, is left at zero for the prober, which defaults it to the same
// constants.
func appProbeTarget(p *crddemov1.Probe, address string) probe.Target {
	if p == nil {
		// A TCP connect on the API's defaults. The API server writes them
		// into every probe it stores, but there is none to write them to.
		p = &crddemov1.Probe{
			PeriodSeconds:    crddemov1.DefaultProbePeriodSeconds,
			TimeoutSeconds:   crddemov1.DefaultProbeTimeoutSeconds,
			SuccessThreshold: crddemov1.DefaultProbeSuccessThreshold,
			FailureThreshold: crddemov1.DefaultProbeFailureThreshold,
		}
	}
	return probe.Target{
		Address:          address,
		Spec:             probeSpec(p),
		Period:           time.Duration(p.PeriodSeconds) * time.Second,
		Timeout:          time.Duration(p.TimeoutSeconds) * time.Second,
		SuccessThreshold: int(p.SuccessThreshold),
		FailureThreshold: int(p.FailureThreshold),
	}
}

// probeSpec translates the API's probe settings into the prober's. The
// API's defaults are applied by the API server; the prober's own defaults
// (GET /, 200-399, plain-text gRPC) mean the same, so a field left empty
// by an old object probes as the API documents. probe.type None never
// reaches here: those endpoints are not probed.
func probeSpec(p *crddemov1.Probe) check.Spec {
	if p == nil {
		return check.Spec{Kind: check.KindTCP}
	}
	spec := check.Spec{Kind: check.KindTCP}
	switch p.Type {
	case crddemov1.ProbeTypeHTTP:
		spec.Kind = check.KindHTTP
	case crddemov1.ProbeTypeHTTPS:
		spec.Kind = check.KindHTTPS
	case crddemov1.ProbeTypeGRPC:
		spec.Kind = check.KindGRPC
	}
	if h := p.HTTP; h != nil && (spec.Kind == check.KindHTTP || spec.Kind == check.KindHTTPS) {
		hs := &check.HTTPSpec{Method: string(h.Method), Path: h.Path, Host: h.Host}
		for _, hdr := range h.Headers {
			hs.Headers = append(hs.Headers, check.Header{Name: hdr.Name, Value: hdr.Value})
		}
		for _, r := range h.ExpectedStatuses {
			sr := check.StatusRange{Min: int(r.Min)}
			if r.Max != nil {
				sr.Max = int(*r.Max)
			}
			hs.ExpectedStatuses = append(hs.ExpectedStatuses, sr)
		}
		spec.HTTP = hs
	}
	if g := p.GRPC; g != nil && spec.Kind == check.KindGRPC {
		spec.GRPC = &check.GRPCSpec{Service: g.Service}
	}
	// TLS is read only by the kinds it applies to; admission rejects it on
	// the others, and an object stored before that rule is probed as its
	// type says.
	if t := p.TLS; t != nil && (spec.Kind == check.KindHTTPS || spec.Kind == check.KindGRPC) {
		ts := &check.TLSSpec{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
		if t.CABundle != "" {
			ts.CABundle = []byte(t.CABundle)
		}
		spec.TLS = ts
	}
	return spec
}
