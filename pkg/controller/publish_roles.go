package controller

import (
	"context"
	"fmt"
	"net/netip"

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
		res := planRoleMembers(r, p.view, readyAddresses(owned))
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
		plan.removeFirst = r.max > 0
		if a := c.applySlices(ctx, md, plan); !a.ok() {
			note(a)
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

// unpublishedRoles are the results of md's roles when the Mydemo's own
// Service could not be published: none publishes anything new, and each
// says why.
func unpublishedRoles(roles []roleView, pubMessage string) []roleResult {
	out := make([]roleResult, len(roles))
	for i, r := range roles {
		out[i] = roleResult{ref: r.ref, reason: crddemov1.RoleNotPublished, message: fmt.Sprintf(msgRoleNotPublished, pubMessage)}
	}
	return out
}
