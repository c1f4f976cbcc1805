package controller

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/utils/ptr"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/probe"
)

// The planner: pure functions from what a sync observed (observe.go) to
// what the world should look like. None of them holds a client, the queue
// or a clock; the time they need is passed in.
//
// The plan is staged, because the API server decides part of it: the
// Service it accepts says which IP families the cluster serves, and that
// decides which endpoints are refused, hence the slices and the status.
// So a sync plans the Service (plan_service.go), applies it, then plans the
// slices and the status from the Service that was applied. Each stage is
// pure on its own inputs.

// probeSlot says what a target checks: the probe of role (-1 for the
// Mydemo's own) on endpoint.
type probeSlot struct {
	role, endpoint int
}

// planProbes returns the prober's targets for spec's endpoints, the
// Mydemo's own probe's and each role's, and, for each target, what it
// checks. Refused endpoints are not probed. The targets of an endpoint
// the prober does not know yet carry a seed from md's status and slices
// (seed.go).
func planProbes(md *crddemov1.Mydemo, spec parsedSpec, owned map[string][]*discoveryv1.EndpointSlice) ([]probe.Target, []probeSlot) {
	var targets []probe.Target
	var slots []probeSlot
	add := func(role int, template probe.Target, port int32, seed func(netip.Addr) probe.State) {
		for i, e := range spec.endpoints {
			if e.refused != "" {
				continue
			}
			t := template
			t.Address = netJoin(e.addr, port)
			t.Seed = seed(e.addr)
			targets = append(targets, t)
			slots = append(slots, probeSlot{role: role, endpoint: i})
		}
	}
	// One template per probe: its spec (which may carry a CA bundle of
	// tens of KiB) is built once per sync and shared, never copied per
	// endpoint.
	if spec.probePort != nil {
		seeds := recordedVerdictsOf(md, owned[md.Name], len(spec.endpoints) == 1)
		add(-1, appProbeTarget(md.Spec.Probe, ""), spec.probePort.port, seeds.seed)
	}
	for r, role := range spec.roles {
		if role.port == 0 {
			continue
		}
		template := appProbeTarget(role.probe, "")
		template.Role = role.ref.role
		seeds := recordedRoleOf(md, role.ref, owned[role.ref.name])
		add(r, template, role.port, seeds.seed)
	}
	return targets, slots
}

// viewOf joins spec's endpoints with the verdicts of their probes
// (states[j] is the verdict of the probe slots[j] says) and the hostnames
// with their answers.
func viewOf(md *crddemov1.Mydemo, spec parsedSpec, slots []probeSlot, states []probe.State) statusInput {
	in := statusInput{probeOff: spec.probeOff, hostnames: spec.hostnames, answers: hostAnswers(spec)}
	in.endpoints = make([]endpointView, len(spec.endpoints))
	for i, e := range spec.endpoints {
		in.endpoints[i] = endpointView{endpoint: e}
	}
	in.roles = make([]roleView, len(spec.roles))
	for r, role := range spec.roles {
		in.roles[r] = roleView{roleSpec: role, states: make([]probe.State, len(spec.endpoints)), probed: make([]bool, len(spec.endpoints))}
	}
	for j, slot := range slots {
		if slot.role >= 0 {
			in.roles[slot.role].states[slot.endpoint] = states[j]
			in.roles[slot.role].probed[slot.endpoint] = true
			continue
		}
		v := &in.endpoints[slot.endpoint]
		v.probed = true
		v.port = spec.probePort.port
		v.state = states[j]
	}
	if md.Spec.Probe != nil && md.Spec.Probe.FailOpen {
		// Judged by the endpoints in rotation: a draining endpoint is
		// never published ready, so its probe neither opens nor keeps
		// shut the others' fail-open.
		inRotation, passing := 0, false
		for _, v := range in.endpoints {
			if v.probed && !v.drain {
				inRotation++
				passing = passing || v.state.Reachability != probe.Unreachable
			}
		}
		in.failOpen = inRotation > 0 && !passing
	}
	return in
}

// hostAnswers turns the resolver's answers into what status reports.
func hostAnswers(spec parsedSpec) map[string]hostAnswer {
	out := make(map[string]hostAnswer, len(spec.hostnames))
	for _, h := range spec.hostnames {
		a := spec.answers[h]
		ha := hostAnswer{addresses: len(a.Addrs) + a.Omitted, resolved: a.Resolved}
		switch {
		case !a.KeptUntil.IsZero():
			ha.message = fmt.Sprintf("lookup failed: %s; keeping the last answer until %s", a.Err, a.KeptUntil.UTC().Format(time.RFC3339))
		case a.Err != "":
			ha.message = "lookup failed: " + a.Err
		case !a.Resolved:
			ha.message = fmt.Sprintf(msgAwaitingDNS, h)
		case spec.truncated[h] > 0:
			ha.message = fmt.Sprintf(msgAnswerTruncated, spec.truncated[h], maxEndpoints)
		}
		out[h] = ha
	}
	return out
}

// awaitingFirstAnswer reports whether md waits for the first DNS answer of
// a hostname with nothing else to publish: the resolver queues the key with
// that answer, and a status saying "waiting" now would be rewritten a
// moment later. A Mydemo already published keeps its status current.
func awaitingFirstAnswer(md *crddemov1.Mydemo, spec parsedSpec) bool {
	return spec.awaitingDNS() && len(spec.published()) == 0 &&
		!meta.IsStatusConditionTrue(md.Status.Conditions, crddemov1.ConditionPublished)
}

// firstVerdictPending returns how long, from now, to wait for the first
// verdict of an endpoint the prober has just started on (for the Mydemo
// or for a role), or 0.
func firstVerdictPending(md *crddemov1.Mydemo, in statusInput, now time.Time) time.Duration {
	limit := firstVerdictWait
	if p := md.Spec.Probe; p != nil && p.TimeoutSeconds > 0 {
		limit = min(limit, time.Duration(p.TimeoutSeconds)*time.Second)
	} else {
		limit = min(limit, time.Second)
	}
	var wait time.Duration
	pending := func(s probe.State) {
		if s.Reachability == probe.Unknown {
			wait = max(wait, s.Since.Add(limit).Sub(now))
		}
	}
	for _, v := range in.endpoints {
		if v.probed {
			pending(v.state)
		}
	}
	for _, r := range in.roles {
		for i, probed := range r.probed {
			if probed {
				pending(r.states[i])
			}
		}
	}
	return wait
}

// withServedFamilies is in with every published endpoint of a family not
// in served refused, on a copy: in itself is not changed. nil served
// refuses nothing.
func withServedFamilies(spec parsedSpec, in statusInput, served []corev1.IPFamily) (parsedSpec, statusInput) {
	unserved := func(e endpoint) bool { return e.refused == "" && !slices.Contains(served, e.family()) }
	if len(served) == 0 || !slices.ContainsFunc(spec.endpoints, unserved) {
		return spec, in
	}
	spec.endpoints = slices.Clone(spec.endpoints)
	in.endpoints = slices.Clone(in.endpoints)
	refuseUnservedFamilies(&spec, &in, served)
	return spec, in
}

// planEndpointSlices is the slice writes that publish in's endpoints with
// spec's ports, given the slices md owns. trafficMoved says they change the
// slices of a Mydemo already published (deferrals.go).
func planEndpointSlices(md *crddemov1.Mydemo, spec parsedSpec, in statusInput, owned []*discoveryv1.EndpointSlice) (plan slicePlan, trafficMoved bool) {
	// Judged by the status, not by the slices in the cache: a published
	// Mydemo whose slices are gone (every endpoint refused, then allowed
	// again) moves traffic when they come back, and a first publication
	// that failed half-way has moved none yet.
	hints := zoneHintsOf(md, in)
	want := make([]sliceEndpoint, 0, len(in.endpoints))
	for _, v := range in.endpoints {
		if v.refused == "" {
			want = append(want, sliceEndpoint{
				addr: v.addr.String(), name: v.name, zone: v.zone, hintZone: hints.hintFor(v, in.failOpen),
				ready: v.ready(in.failOpen), serving: v.serving(in.failOpen), terminating: v.drain,
			})
		}
	}
	plan = planSlices(md, mainService(md), want, spec.ports, owned)
	trafficMoved = meta.IsStatusConditionTrue(md.Status.Conditions, crddemov1.ConditionPublished) &&
		len(plan.create)+len(plan.update)+len(plan.delete) > 0
	return plan, trafficMoved
}

// terminatingSlices is the updates that mark every endpoint of owned not
// ready and terminating, for a Mydemo being deleted: traffic stops before
// the objects go.
func terminatingSlices(owned []*discoveryv1.EndpointSlice) []*discoveryv1.EndpointSlice {
	var out []*discoveryv1.EndpointSlice
	for _, s := range owned {
		changed := false
		for _, ep := range s.Endpoints {
			cond := ep.Conditions
			if cond.Terminating == nil || !*cond.Terminating || cond.Ready == nil || *cond.Ready {
				changed = true
				break
			}
		}
		if !changed {
			continue
		}
		updated := s.DeepCopy()
		for i := range updated.Endpoints {
			cond := &updated.Endpoints[i].Conditions
			cond.Ready, cond.Terminating = ptr.To(false), ptr.To(true)
		}
		out = append(out, updated)
	}
	return out
}
