package controller

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/policy"
	"github.com/crddemo/crddemo/pkg/resolve"
)

// defaultResolvePeriod applies when spec.resolvePeriodSeconds is unset.
const defaultResolvePeriod = time.Duration(crddemov1.DefaultResolvePeriodSeconds) * time.Second

// maxEndpoints bounds the endpoints of one Mydemo, hostname answers
// included, as the API bounds spec.endpoints: a name answering with
// thousands of addresses must not make thousands of probes and a status
// too large to write.
const maxEndpoints = 1000

// endpoint is one address of a Mydemo, from spec.ip, spec.endpoints[].ip or
// a hostname's answer.
type endpoint struct {
	addr     netip.Addr
	hostname string // the spec hostname it was resolved from, if any
	// name is spec.endpoints[].name, the endpoint's DNS name under a
	// headless Service (its slice entry's hostname).
	name string
	zone string
	// drain: spec.endpoints[].drain takes it out of rotation; it stays
	// published, not ready and terminating (slices.go).
	drain bool
	// refused, when set, says why the address is not published (nor
	// probed); refusedReason is the rule, in CamelCase.
	refused       string
	refusedReason string
}

func (e endpoint) family() corev1.IPFamily {
	if e.addr.Is6() {
		return corev1.IPv6Protocol
	}
	return corev1.IPv4Protocol
}

// servicePort is one port of the Service and of every EndpointSlice.
type servicePort struct {
	name        string
	port        int32
	protocol    corev1.Protocol
	appProtocol *string
}

// parsedSpec is the part of a Mydemo's spec that decides its children.
type parsedSpec struct {
	// endpoints in spec order, a hostname's answer in address order; an
	// address listed twice appears once, at its first place.
	endpoints []endpoint
	ports     []servicePort
	// probePort is the port probed on every endpoint; nil when probing
	// is off, and then probeOff says why.
	probePort *servicePort
	probeOff  string
	// hostnames lists spec hostnames in spec order, with their answers.
	hostnames []string
	answers   map[string]resolve.Answer
	// truncated counts, per hostname, the answers left out by maxEndpoints,
	// here or already by the resolver.
	truncated map[string]int
	// roles are spec.roles, in spec order (roles.go).
	roles []roleSpec
}

// published returns the endpoints that are not refused.
func (p parsedSpec) published() []endpoint {
	out := make([]endpoint, 0, len(p.endpoints))
	for _, e := range p.endpoints {
		if e.refused == "" {
			out = append(out, e)
		}
	}
	return out
}

// awaitingDNS reports whether some hostname has no answer yet at all.
func (p parsedSpec) awaitingDNS() bool {
	for _, h := range p.hostnames {
		if a := p.answers[h]; !a.Resolved && a.Err == "" {
			return true
		}
	}
	return false
}

// specHostnames lists the hostnames of md's endpoints, in spec order.
func specHostnames(md *crddemov1.Mydemo) []string {
	var out []string
	for _, e := range md.Spec.Endpoints {
		if e.Hostname != "" && !slices.Contains(out, e.Hostname) {
			out = append(out, e.Hostname)
		}
	}
	return out
}

// resolvePeriod is how often md's hostnames are looked up again.
func resolvePeriod(md *crddemov1.Mydemo) time.Duration {
	if p := md.Spec.ResolvePeriodSeconds; p != nil && *p > 0 {
		return time.Duration(*p) * time.Second
	}
	return defaultResolvePeriod
}

// parseSpec reads md's spec with the current DNS answers. Every address
// meets policy.Intrinsic (the rules the CRD applies to literal addresses,
// which hostname answers and objects stored before a rule never met), then
// check, if set: the cluster networks and AddressPolicies (see
// policy.Watcher), which returns "" and "" to allow.
func parseSpec(md *crddemov1.Mydemo, answers map[string]resolve.Answer, check func(netip.Addr) (reason, message string)) (parsedSpec, error) {
	spec := parsedSpec{hostnames: specHostnames(md), answers: answers}
	seen := map[netip.Addr]int{} // address → its index in spec.endpoints
	add := func(e endpoint) {
		if i, dup := seen[e.addr]; dup {
			// Any entry that drains the address drains it: the
			// operator asked for no new connections to it.
			spec.endpoints[i].drain = spec.endpoints[i].drain || e.drain
			return
		}
		seen[e.addr] = len(spec.endpoints)
		if d := policy.Intrinsic(e.addr); !d.Allowed {
			e.refusedReason, e.refused = d.Reason, msgRefusedPrefix+d.Message
		}
		if e.refused == "" && check != nil {
			reason, msg := check(e.addr)
			if msg != "" {
				e.refusedReason, e.refused = reason, msgRefusedPrefix+msg
			}
		}
		spec.endpoints = append(spec.endpoints, e)
	}

	if md.Spec.IP != "" {
		addr, err := policy.ParseLiteral(md.Spec.IP)
		if err != nil {
			return parsedSpec{}, fmt.Errorf("spec.ip: %w", err)
		}
		add(endpoint{addr: addr})
	}
	for i, e := range md.Spec.Endpoints {
		if e.IP != "" {
			addr, err := policy.ParseLiteral(e.IP)
			if err != nil {
				return parsedSpec{}, fmt.Errorf("spec.endpoints[%d].ip: %w", i, err)
			}
			add(endpoint{addr: addr, name: e.Name, zone: e.Zone, drain: e.Drain})
			continue
		}
		a := answers[e.Hostname]
		// The resolver keeps no more of a key's answers than maxEndpoints
		// and counts the rest as omitted; those are left out here too.
		omitted := a.Omitted
		for _, addr := range a.Addrs {
			if len(spec.endpoints) >= maxEndpoints {
				omitted++
				continue
			}
			add(endpoint{addr: addr, hostname: e.Hostname, name: e.Name, zone: e.Zone, drain: e.Drain})
		}
		if omitted > 0 {
			if spec.truncated == nil {
				spec.truncated = map[string]int{}
			}
			spec.truncated[e.Hostname] += omitted
		}
	}
	if len(spec.endpoints) == 0 && len(spec.hostnames) == 0 {
		return parsedSpec{}, fmt.Errorf("spec has no address: set spec.ip or spec.endpoints")
	}

	if len(md.Spec.Ports) == 0 {
		if md.Spec.Port < 1 || md.Spec.Port > 65535 {
			return parsedSpec{}, fmt.Errorf("spec.port %d is not a port number", md.Spec.Port)
		}
		spec.ports = []servicePort{{port: md.Spec.Port, protocol: protocolOf(md.Spec.Protocol)}}
	}
	for _, p := range md.Spec.Ports {
		spec.ports = append(spec.ports, servicePort{name: p.Name, port: p.Port, protocol: protocolOf(p.Protocol), appProtocol: p.AppProtocol})
	}
	spec.probePort, spec.probeOff = probedPort(md.Spec.Probe, spec.ports)
	spec.roles = parseRoles(md, spec.ports)
	return spec, nil
}

func protocolOf(p crddemov1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return corev1.Protocol(p)
}

// probedPort picks the port to probe: probe.port by name or number, else the
// first port of the probe's protocol (UDP for a UDP or DNS probe, TCP for
// every other kind). It returns nil and the reason when nothing is probed.
func probedPort(p *crddemov1.Probe, ports []servicePort) (*servicePort, string) {
	if p != nil && p.Type == crddemov1.ProbeTypeNone {
		return nil, msgProbeDisabledNone
	}
	want := probeProtocol(p)
	if p != nil && p.Port != nil {
		for i := range ports {
			sp := &ports[i]
			byName := p.Port.Type == intstr.String && sp.name == p.Port.StrVal
			byNumber := p.Port.Type == intstr.Int && sp.port == p.Port.IntVal
			if byName || byNumber {
				if sp.protocol != want {
					return nil, fmt.Sprintf(msgProbeDisabledProtocol, sp.protocol)
				}
				return sp, ""
			}
		}
		return nil, fmt.Sprintf(msgProbePortUnknown, p.Port.String())
	}
	for i := range ports {
		if ports[i].protocol == want {
			return &ports[i], ""
		}
	}
	return nil, fmt.Sprintf(msgProbeDisabledProtocol, ports[0].protocol)
}

// netJoin renders addr:port.
func netJoin(addr netip.Addr, port int32) string {
	return netip.AddrPortFrom(addr, uint16(port)).String()
}
