package controller

import (
	"fmt"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/probe"
)

// Roles: each role of spec.roles publishes, as a Service of its own, the
// endpoints that are ready in the Mydemo's Service and pass the role's
// probe. This file reads the roles from the spec and plans their
// membership; their probes are planned with the Mydemo's (plan.go), their
// Services and slices are written after the Mydemo's (publish_roles.go),
// and status and Events report them (status_roles.go).

// roleSpec is one role of spec.roles, as the sync uses it.
type roleSpec struct {
	ref serviceRef
	// probe is the role's probe as the API holds it.
	probe *crddemov1.Probe
	// port is the port the role's probe checks on every endpoint; 0 when
	// probeOff or portErr.
	port int32
	// probeOff: probe.type None puts every ready endpoint in the role.
	probeOff bool
	// portErr says why the role's probe cannot run: a port the Mydemo
	// lacks, or one of the wrong protocol (an object stored before
	// admission checked it). Such a role publishes nothing.
	portErr string
	// max is maxEndpoints; 0 means no limit.
	max int
}

// parseRoles reads md's roles, with ports the Mydemo's ports.
func parseRoles(md *crddemov1.Mydemo, ports []servicePort) []roleSpec {
	out := make([]roleSpec, 0, len(md.Spec.Roles))
	for i := range md.Spec.Roles {
		r := &md.Spec.Roles[i]
		rs := roleSpec{ref: roleService(md, r.Name), probe: &r.Probe}
		if r.MaxEndpoints != nil && *r.MaxEndpoints > 0 {
			rs.max = int(*r.MaxEndpoints)
		}
		if r.Probe.Type == crddemov1.ProbeTypeNone {
			rs.probeOff = true
		} else {
			rs.port, rs.portErr = rolePort(r.Name, &r.Probe, ports)
		}
		out = append(out, rs)
	}
	return out
}

// rolePort is the port a role's probe checks. Unlike spec.probe, a number
// need not be a published port (Patroni answers for its PostgreSQL on
// 8008); a name must be one of ports, of the probe's protocol; no port
// means the first of the probe's protocol, as for spec.probe.
func rolePort(role string, p *crddemov1.Probe, ports []servicePort) (int32, string) {
	want := probeProtocol(p)
	if p.Port != nil && p.Port.Type == intstr.Int {
		return p.Port.IntVal, ""
	}
	for _, sp := range ports {
		if p.Port == nil && sp.protocol == want {
			return sp.port, ""
		}
		if p.Port != nil && sp.name == p.Port.StrVal {
			if sp.protocol != want {
				return 0, fmt.Sprintf(msgRolePortProtocol, role, p.Port.StrVal, sp.protocol, p.Type)
			}
			return sp.port, ""
		}
	}
	if p.Port == nil {
		return 0, fmt.Sprintf(msgRoleNoPort, role, want)
	}
	return 0, fmt.Sprintf(msgRolePortUnknown, role, p.Port.StrVal)
}

// probeProtocol is the protocol a probe speaks: UDP for UDP and DNS
// probes, TCP for every other type.
func probeProtocol(p *crddemov1.Probe) corev1.Protocol {
	if p != nil && (p.Type == crddemov1.ProbeTypeUDP || p.Type == crddemov1.ProbeTypeDNS) {
		return corev1.ProtocolUDP
	}
	return corev1.ProtocolTCP
}

// roleView is a role with its probe's verdict on each endpoint of the
// view it belongs to.
type roleView struct {
	roleSpec
	// states[i] is the verdict of the role's probe on endpoint i;
	// probed[i] is false where it does not run (a refused endpoint, a
	// role whose probe is off or cannot run).
	states []probe.State
	probed []bool
}

// passes reports whether endpoint i passes the role's probe.
func (r roleView) passes(i int) bool {
	if r.probeOff {
		return true
	}
	return r.probed[i] && r.states[i].Reachability == probe.Reachable
}

// roleResult is what a sync made of one role.
type roleResult struct {
	ref serviceRef
	// members are the addresses the role's Service publishes, in
	// endpoint order.
	members []netip.Addr
	// passing counts the ready endpoints that pass the role's probe.
	passing int
	reason  string
	message string
}

// planRoleMembers decides which endpoints of in the role r publishes.
// held are the addresses its Service publishes now (its slices, ready).
//
// A role without maxEndpoints publishes every ready endpoint that passes
// its probe. A role with maxEndpoints is a single writer's guard: while
// more endpoints pass than it allows (a failover caught half-way, a
// split brain), it takes in none of the newcomers. It keeps those it
// publishes that still pass, so clients stay on the primary they had,
// and publishes none when it had none: picking one of two primaries is
// not the operator's to do. Once no more pass than allowed, it publishes
// them all. A ready endpoint whose verdict is not known yet (just added,
// or the process just started) may pass too, so while those could make
// more pass than allowed, the role takes in no newcomer either: otherwise
// the first of two primaries to answer would be picked.
func planRoleMembers(r roleView, in statusInput, held map[netip.Addr]bool) roleResult {
	res := roleResult{ref: r.ref}
	if r.portErr != "" {
		res.reason, res.message = crddemov1.RoleProbePortUnknown, r.portErr
		return res
	}
	writer := writersOf(in)
	var passing []netip.Addr
	passingWriters, pendingWriters := map[string]bool{}, map[string]bool{}
	for i, v := range in.endpoints {
		if v.refused != "" || !v.ready(in.failOpen) {
			continue
		}
		switch {
		case r.passes(i):
			passing = append(passing, v.addr)
			passingWriters[writer(v)] = true
		case r.probed[i] && r.states[i].Reachability == probe.Unknown:
			pendingWriters[writer(v)] = true
		}
	}
	for w := range passingWriters {
		delete(pendingWriters, w)
	}
	res.passing = len(passing)
	// kept are the passing addresses of the writers the role publishes
	// now, at most r.max of them.
	kept := func() []netip.Addr {
		keep := map[string]bool{}
		for _, v := range in.endpoints {
			if held[v.addr] && passingWriters[writer(v)] && len(keep) < r.max {
				keep[writer(v)] = true
			}
		}
		var out []netip.Addr
		for _, v := range in.endpoints {
			if keep[writer(v)] && slices.Contains(passing, v.addr) {
				out = append(out, v.addr)
			}
		}
		return out
	}
	switch {
	case r.max == 0 || len(passingWriters)+len(pendingWriters) <= r.max:
		res.members = passing
	case len(passingWriters) <= r.max:
		// Verdicts still pending could make more pass than allowed:
		// nothing new comes in until they are known.
		res.members = kept()
	default:
		res.members = kept()
		res.reason = crddemov1.RoleConflict
		if len(res.members) > 0 {
			res.message = fmt.Sprintf(msgRoleConflictKept, len(passingWriters), r.ref.role, r.max, listAddrs(res.members))
		} else {
			res.message = fmt.Sprintf(msgRoleConflictNone, len(passingWriters), r.ref.role, r.max)
		}
		return res
	}
	switch {
	case len(res.members) > 0:
		res.reason, res.message = crddemov1.RoleReady, fmt.Sprintf(msgRoleReady, len(res.members), r.ref.name)
	case len(pendingWriters) > 0:
		res.reason, res.message = crddemov1.RoleProbing, fmt.Sprintf(msgRoleProbing, len(pendingWriters))
	default:
		res.reason, res.message = crddemov1.RoleNoEndpoints, fmt.Sprintf(msgRoleNoEndpoints, r.ref.role)
	}
	return res
}

// writersOf returns who an endpoint of in is, as maxEndpoints counts
// them: one host. The addresses of a hostname whose answer holds at most
// one address of each family (a dual-stack server's A and AAAA records)
// are one writer; any other address is one on its own, since two
// addresses of a family under one name are two servers as far as the
// controller can tell.
func writersOf(in statusInput) func(endpointView) string {
	perFamily := map[string]int{}
	for _, v := range in.endpoints {
		if v.hostname != "" && v.refused == "" {
			perFamily[v.hostname+"/"+string(v.family())]++
		}
	}
	return func(v endpointView) string {
		if v.hostname != "" && perFamily[v.hostname+"/"+string(corev1.IPv4Protocol)] <= 1 && perFamily[v.hostname+"/"+string(corev1.IPv6Protocol)] <= 1 {
			return "host " + v.hostname
		}
		return "address " + v.addr.String()
	}
}

// roleSliceEndpoints are the slice entries of a role's members: all ready.
// Which endpoint is draining or failing is the Mydemo's Service's to say;
// a role's Service holds only the endpoints that take its traffic. Each
// carries its endpoint's name and the zone hint the Mydemo's own slices
// give it (members are ready there, so hints decides them the same way).
func roleSliceEndpoints(in statusInput, hints zoneHints, members []netip.Addr) []sliceEndpoint {
	views := make(map[netip.Addr]endpointView, len(members))
	for _, v := range in.endpoints {
		views[v.addr] = v
	}
	out := make([]sliceEndpoint, 0, len(members))
	for _, a := range members {
		v := views[a]
		out = append(out, sliceEndpoint{addr: a.String(), name: v.name, zone: v.zone, hintZone: hints.hintFor(v, in.failOpen), ready: true, serving: true})
	}
	return out
}

// listAddrs names the first few addresses and counts the rest.
func listAddrs(addrs []netip.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return listSome(s)
}
