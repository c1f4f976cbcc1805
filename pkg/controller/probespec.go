package controller

import (
	"encoding/hex"
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
			PeriodSeconds:       crddemov1.DefaultProbePeriodSeconds,
			EdgeIntervalSeconds: crddemov1.DefaultProbeEdgeIntervalSeconds,
			TimeoutSeconds:      crddemov1.DefaultProbeTimeoutSeconds,
			SuccessThreshold:    crddemov1.DefaultProbeSuccessThreshold,
			FailureThreshold:    crddemov1.DefaultProbeFailureThreshold,
		}
	}
	return probe.Target{
		Address:          address,
		Spec:             probeSpec(p),
		Period:           time.Duration(p.PeriodSeconds) * time.Second,
		EdgeInterval:     time.Duration(p.EdgeIntervalSeconds) * time.Second,
		Timeout:          time.Duration(p.TimeoutSeconds) * time.Second,
		SuccessThreshold: int(p.SuccessThreshold),
		FailureThreshold: int(p.FailureThreshold),
	}
}

// probeSpec translates the API's probe settings into the prober's. The
// API's defaults are applied by the API server; the prober's own defaults
// (GET /, 200-399, plain-text gRPC) mean the same, so a field left empty
// by an old object probes as the API documents. The defaults the CRD does
// not write (the Postgres user and database, the DNS record type) are
// applied here. Payloads reach the checks as bytes: text as written
// (YAML has already turned escapes such as \r\n into their bytes), hex
// decoded. probe.type None never reaches here: those endpoints are not
// probed.
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
	case crddemov1.ProbeTypeRedis:
		spec.Kind = check.KindRedis
	case crddemov1.ProbeTypePostgres:
		spec.Kind = check.KindPostgres
	case crddemov1.ProbeTypeMySQL:
		spec.Kind = check.KindMySQL
	case crddemov1.ProbeTypeUDP:
		spec.Kind = check.KindUDP
	case crddemov1.ProbeTypeDNS:
		spec.Kind = check.KindDNS
	}
	// Each section is read only by its kind; admission rejects it on the
	// others, and an object stored before that rule is probed as its
	// type says.
	switch spec.Kind {
	case check.KindTCP:
		// An empty section is a connect, as no section: one spec, one
		// shared Checker.
		if t := p.TCP; t != nil && (t.Send != "" || t.SendHex != "" || t.Expect != "" || t.ExpectHex != "") {
			spec.TCP = &check.TCPSpec{Send: payload(t.Send, t.SendHex), Expect: payload(t.Expect, t.ExpectHex)}
		}
	case check.KindHTTP, check.KindHTTPS:
		if h := p.HTTP; h != nil {
			spec.HTTP = httpSpec(h)
		}
	case check.KindGRPC:
		if g := p.GRPC; g != nil {
			spec.GRPC = &check.GRPCSpec{Service: g.Service}
		}
	case check.KindRedis:
		if r := p.Redis; r != nil && r.Role != "" {
			spec.Redis = &check.RedisSpec{Role: string(r.Role)}
		}
	case check.KindPostgres:
		spec.Postgres = postgresSpec(p.Postgres)
	case check.KindUDP:
		if u := p.UDP; u != nil {
			spec.UDP = &check.UDPSpec{Send: payload(u.Send, u.SendHex), Expect: payload(u.Expect, u.ExpectHex)}
		}
	case check.KindDNS:
		if d := p.DNS; d != nil {
			spec.DNS = &check.DNSSpec{Name: d.Name, Type: check.DNSTypeA}
			if d.Type != "" {
				spec.DNS.Type = string(d.Type)
			}
		}
	}
	if t := p.TLS; t != nil {
		switch spec.Kind {
		case check.KindHTTPS, check.KindGRPC, check.KindTCP, check.KindRedis:
			ts := &check.TLSSpec{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
			if t.CABundle != "" {
				ts.CABundle = []byte(t.CABundle)
			}
			spec.TLS = ts
		}
	}
	return spec
}

// httpSpec is the request of an HTTP or HTTPS probe.
func httpSpec(h *crddemov1.HTTPProbe) *check.HTTPSpec {
	hs := &check.HTTPSpec{
		Method: string(h.Method), Path: h.Path, Host: h.Host,
		ExpectBody: string(h.ExpectBody), ExpectBodyRegex: h.ExpectBodyRegex,
	}
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
	return hs
}

// postgresSpec names the user and database of the startup message: the
// user defaults to crddemo-probe, the database to the user, as libpq's.
func postgresSpec(pg *crddemov1.PostgresProbe) *check.PostgresSpec {
	ps := &check.PostgresSpec{User: crddemov1.DefaultPostgresUser}
	if pg != nil && pg.User != "" {
		ps.User = pg.User
	}
	ps.Database = ps.User
	if pg != nil && pg.Database != "" {
		ps.Database = pg.Database
	}
	return ps
}

// payload is the bytes of a payload written as text or as hex (admission
// lets through at most one of them); nil when neither is set. The schema
// checks the hex on every write (even-length hex digits only), so a
// stored object's hex always decodes; DecodeString's error is therefore
// not looked at.
func payload(text crddemov1.ProbeText, hexText crddemov1.ProbeHex) []byte {
	if text != "" {
		return []byte(text)
	}
	if hexText == "" {
		return nil
	}
	b, _ := hex.DecodeString(string(hexText))
	return b
}
