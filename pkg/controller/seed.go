package controller

import (
	"net/netip"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	discoveryv1 "k8s.io/api/discovery/v1"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/probe"
)

// recordedVerdicts is what an earlier process left behind about a
// Mydemo's endpoints: the verdicts its status records and the readiness
// its EndpointSlices publish. The prober starts from it after a restart
// (or a change of leader), so that neither every endpoint goes not ready
// nor every one waits for a first probe.
//
// The two records can disagree: during an outage the slices are written
// first and the statuses may wait behind other Mydemos' slices, so a
// process killed in between leaves a status that still says Reachable
// beside a slice that already says not ready (and a failed slice write
// leaves the opposite). The seed takes the more pessimistic of the two:
// an endpoint that either record calls down starts Unreachable, so a
// restart never sends traffic back to a dead endpoint; if it is in fact
// up, the next probe says so within one period.
type recordedVerdicts struct {
	// byAddress holds status.endpoints, when the status describes the
	// current generation.
	byAddress map[string]crddemov1.EndpointStatus
	// notReady holds the addresses our slices publish as not ready, or,
	// for a draining endpoint (terminating), as not serving.
	notReady map[netip.Addr]bool
	// fallback is the verdict of a status written before per-endpoint
	// status, for a Mydemo of one endpoint.
	fallback probe.State
}

// recordedVerdictsOf reads md's status and its slices. single says md
// has one endpoint, for which the Reachable condition alone (a status
// written before per-endpoint status) is a verdict too.
func recordedVerdictsOf(md *crddemov1.Mydemo, slices []*discoveryv1.EndpointSlice, single bool) recordedVerdicts {
	var r recordedVerdicts
	for _, s := range slices {
		for _, ep := range s.Endpoints {
			if len(ep.Addresses) == 0 || !sliceSaysDown(ep.Conditions) {
				continue
			}
			if a, err := netip.ParseAddr(ep.Addresses[0]); err == nil {
				if r.notReady == nil {
					r.notReady = map[netip.Addr]bool{}
				}
				r.notReady[a] = true
			}
		}
	}
	// A verdict about an older spec says nothing about the current one
	// (another port, another kind of check).
	if md.Status.ObservedGeneration != md.Generation {
		return r
	}
	if len(md.Status.Endpoints) > 0 {
		r.byAddress = make(map[string]crddemov1.EndpointStatus, len(md.Status.Endpoints))
		for _, e := range md.Status.Endpoints {
			r.byAddress[e.Address] = e
		}
		return r
	}
	cond := meta.FindStatusCondition(md.Status.Conditions, crddemov1.ConditionReachable)
	if !single || cond == nil || cond.ObservedGeneration != md.Generation {
		return r
	}
	switch {
	case cond.Status == metav1.ConditionTrue && cond.Reason == reasonProbeSucceeded:
		r.fallback = probe.State{Reachability: probe.Reachable, Since: cond.LastTransitionTime.Time}
	case cond.Status == metav1.ConditionFalse && cond.Reason == reasonProbeFailed:
		r.fallback = probe.State{Reachability: probe.Unreachable, Since: cond.LastTransitionTime.Time}
	}
	return r
}

// sliceSaysDown reports whether a slice's conditions record a failed
// verdict. A draining endpoint is not ready by choice; its serving
// condition is the verdict, so a restart does not take a drained endpoint
// that passes its probe for one that fails it.
func sliceSaysDown(cond discoveryv1.EndpointConditions) bool {
	if cond.Terminating != nil && *cond.Terminating && cond.Serving != nil {
		return !*cond.Serving
	}
	return cond.Ready != nil && !*cond.Ready
}

// seed is the verdict to start addr from. It reads structured fields only
// (the endpoint's probe verdict and time, the slice's ready flag), never
// message wording, so any version's status seeds a restart.
func (r recordedVerdicts) seed(addr netip.Addr) probe.State {
	state := r.fallback
	if r.byAddress != nil {
		state = probe.State{}
		if e, ok := r.byAddress[addr.String()]; ok {
			var since time.Time
			if e.LastTransitionTime != nil {
				since = e.LastTransitionTime.Time
			}
			switch e.Probe {
			case crddemov1.ProbeReachable:
				state = probe.State{Reachability: probe.Reachable, Since: since}
			case crddemov1.ProbeUnreachable:
				state = probe.State{Reachability: probe.Unreachable, Message: e.Message, Since: since}
			}
			// The certificate recorded goes with the verdict, so that
			// the status does not lose it until the next TLS probe.
			if e.CertificateNotAfter != nil && state.Reachability != probe.Unknown {
				state.CertNotAfter = e.CertificateNotAfter.Time
			}
		}
	}
	// Only a recorded Reachable is overruled: an endpoint the status
	// does not judge is probed at once anyway, and one it calls
	// Unreachable already is.
	if state.Reachability == probe.Reachable && r.notReady[addr] {
		return probe.State{Reachability: probe.Unreachable, Message: msgSeededNotReady, CertNotAfter: state.CertNotAfter}
	}
	return state
}

// recordedRole is what an earlier process left behind about one role: the
// members its status records and those its Service's slices publish.
type recordedRole struct {
	// known: the status records the role for the current generation,
	// so an address it does not list is not a member.
	known bool
	// untaken: the status records that the role's probe passed on more
	// endpoints than the role published (a conflict, or verdicts it was
	// still waiting for), so a non-member's verdict is not known.
	untaken bool
	// inStatus and inSlices are the members each record lists.
	inStatus map[string]bool
	inSlices map[netip.Addr]bool
}

// recordedRoleOf reads md's status and the slices of the role's Service.
func recordedRoleOf(md *crddemov1.Mydemo, ref serviceRef, owned []*discoveryv1.EndpointSlice) recordedRole {
	r := recordedRole{inSlices: readyAddresses(owned), inStatus: map[string]bool{}}
	if md.Status.ObservedGeneration != md.Generation {
		return r
	}
	i := slices.IndexFunc(md.Status.Roles, func(rs crddemov1.RoleStatus) bool { return rs.Name == ref.role })
	if i < 0 {
		return r
	}
	r.known = true
	r.untaken = md.Status.Roles[i].Passing > md.Status.Roles[i].Ready
	for _, e := range md.Status.Endpoints {
		if slices.Contains(e.Roles, ref.role) {
			r.inStatus[e.Address] = true
		}
	}
	return r
}

// seed is the verdict of the role's probe to start addr from. A member is
// seeded passing only when both records agree, so that a restart between
// a role's slice write and its status write (the primary moving) never
// sends writes back to the endpoint the role just left: the role waits
// for one probe instead. A non-member of a role that left some passing
// endpoints out is not seeded at all: seeding them failing would end the
// conflict until they are probed again, and let the first of them to
// answer in (planRoleMembers waits for unknown verdicts instead).
func (r recordedRole) seed(addr netip.Addr) probe.State {
	if !r.known {
		return probe.State{}
	}
	a := addr.String()
	switch {
	case r.inStatus[a] && r.inSlices[addr]:
		return probe.State{Reachability: probe.Reachable}
	case r.untaken && !r.inStatus[a] && !r.inSlices[addr]:
		return probe.State{}
	}
	return probe.State{Reachability: probe.Unreachable, Message: msgSeededNotInRole}
}
