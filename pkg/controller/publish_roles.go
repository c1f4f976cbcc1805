package controller

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"

	discoveryv1 "k8s.io/api/discovery/v1"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
)

// publishRoles makes each role's Service and slices match the members the
// planner picks (roles.go), once the Mydemo's own Service and slices are
// published: p.spec and p.view then say which families the cluster
// serves. It fills p.view.roleResults and returns the first write that
// did not go as planned (ok when none) and whether any role's slices
// changed. A role whose Service cannot be written publishes nothing and
// says why; the others go on.
func (c *Controller) publishRoles(ctx context.Context, obs *observation, p *publishing) (stop applied, moved bool) {
	md := obs.md
	stop = applied{outcome: unchanged}
	note := func(a applied) {
		if stop.ok() && !a.ok() {
			stop = a
		}
	}
	p.view.roleResults = make([]roleResult, len(p.view.roles))
	hints := zoneHintsOf(md, p.view)
	for i, r := range p.view.roles {
		owned := obs.slices[r.ref.name]
		held := readyAddresses(owned)
		res := planRoleMembers(r, p.view, held)
		if _, a := c.applyService(ctx, obs, r.ref, p.spec); !a.ok() {
			note(a)
			res.members = nil
			res.reason = crddemov1.RoleNotPublished
			_, res.message = publicationOf(a, md.Namespace, r.ref.name)
			if a.outcome == foreign || a.outcome == rejected {
				// As for the Mydemo's own Service: no slice of ours
				// may feed a Service the spec does not describe.
				note(c.deleteSlices(ctx, owned))
			}
			p.view.roleResults[i] = res
			continue
		}
		plan := planSlices(md, r.ref, roleSliceEndpoints(p.view, hints, res.members), p.spec.ports, owned)
		// A role with maxEndpoints guards a single writer: a primary
		// moving between slices (one IPv4, one IPv6) leaves the old one
		// before the new one comes, never both at once.
		if r.max > 0 {
			plan.removeFirst = true
			shrinkingFirst(plan.update, owned)
		}
		if a := c.applySlices(ctx, md, plan); !a.ok() {
			note(a)
			// The status and the RoleChanged Event say what the
			// role's Service publishes, which is still what it held:
			// a move the slices did not make is not announced, and
			// a restart does not seed it (seed.go).
			res.members = heldMembers(p.view, held)
			res.reason = crddemov1.RoleNotPublished
			_, res.message = publicationOf(a, md.Namespace, r.ref.name)
		}
		moved = moved || !plan.empty()
		p.view.roleResults[i] = res
	}
	note(c.deleteStale(ctx, obs))
	return stop, moved
}

// deleteStale deletes the Services of roles no longer in the spec, and
// every slice of ours that feeds none of the Services the spec names.
func (c *Controller) deleteStale(ctx context.Context, obs *observation) applied {
	res := applied{outcome: unchanged}
	for _, svc := range obs.staleServices {
		if err := c.deleteService(ctx, svc); err != nil {
			return failed(kindService, svc.Name, err)
		}
		res.outcome = written
	}
	needed := map[string]bool{}
	for _, ref := range neededServices(obs.md) {
		needed[ref.name] = true
	}
	for name, owned := range obs.slices {
		if needed[name] {
			continue
		}
		if del := c.deleteSlices(ctx, owned); !del.ok() {
			return del
		} else if del.outcome == written {
			res.outcome = written
		}
	}
	return res
}

// shrinkingFirst orders the updates of a role's slices so that those
// that publish fewer ready endpoints once written go before those that
// publish more. With the deletes before them and the creates after, the
// role then never publishes more endpoints between two writes than at the
// start or the end: a member leaving the IPv6 slice while another joins
// the IPv4 one would otherwise, for one write, put maxEndpoints + 1 in
// the Service.
func shrinkingFirst(updates, owned []*discoveryv1.EndpointSlice) {
	ready := func(s *discoveryv1.EndpointSlice) int { return len(readyAddresses([]*discoveryv1.EndpointSlice{s})) }
	growth := make(map[string]int, len(updates))
	for _, s := range owned {
		growth[s.Name] = -ready(s)
	}
	for _, s := range updates {
		growth[s.Name] += ready(s)
	}
	slices.SortStableFunc(updates, func(a, b *discoveryv1.EndpointSlice) int { return cmp.Compare(growth[a.Name], growth[b.Name]) })
}

// readyAddresses are the addresses slices publish as ready.
func readyAddresses(slices []*discoveryv1.EndpointSlice) map[netip.Addr]bool {
	out := map[netip.Addr]bool{}
	for _, s := range slices {
		for _, ep := range s.Endpoints {
			if len(ep.Addresses) == 0 || ep.Conditions.Ready == nil || !*ep.Conditions.Ready {
				continue
			}
			if a, err := netip.ParseAddr(ep.Addresses[0]); err == nil {
				out[a] = true
			}
		}
	}
	return out
}

// heldMembers are the addresses of in's endpoints that held (a role's
// slices, ready) publishes, in endpoint order.
func heldMembers(in statusInput, held map[netip.Addr]bool) []netip.Addr {
	var out []netip.Addr
	for _, v := range in.endpoints {
		if held[v.addr] {
			out = append(out, v.addr)
		}
	}
	return out
}

// unpublishedRoles are the results of in's roles when the Mydemo's own
// Service or slices could not be published: none publishes anything new,
// and each says why. Each keeps as its members what its slices in
// remaining (by Service) still publish, so that status and Events say
// where its Service sends traffic.
func unpublishedRoles(in statusInput, remaining map[string][]*discoveryv1.EndpointSlice, pubMessage string) []roleResult {
	out := make([]roleResult, len(in.roles))
	for i, r := range in.roles {
		out[i] = roleResult{
			ref: r.ref, members: heldMembers(in, readyAddresses(remaining[r.ref.name])),
			reason: crddemov1.RoleNotPublished, message: fmt.Sprintf(msgRoleNotPublished, pubMessage),
		}
	}
	return out
}
