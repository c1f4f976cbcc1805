package controller

import (
	"slices"

	corev1 "k8s.io/api/core/v1"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
)

// The Service stage of the plan (see plan.go). Which families the cluster
// serves shows only in what the API server makes of the Service we send
// (families.go), so the Service is planned in steps, each pure, and
// applyService (apply.go) sends each step's write before planning the
// next from its answer.

// planNewService is the Service to create for md, and the one to create
// instead if the API server refuses the first for its primary IP family:
// with endpoints of both families, the first endpoint's family may be one
// the cluster does not serve while the other is. second is nil when there
// is no other family to try.
func planNewService(md *crddemov1.Mydemo, ref serviceRef, spec parsedSpec) (first, second *corev1.Service) {
	fams := serviceFamilies(spec.familyCandidates(), nil)
	first = newService(md, ref, spec, fams)
	if len(fams) == 2 {
		second = newService(md, ref, spec, []corev1.IPFamily{fams[1], fams[0]})
	}
	return first, second
}

// planServiceFamilies are the families md's Service should have, given the
// Service that exists (ours).
func planServiceFamilies(spec parsedSpec, existing *corev1.Service) []corev1.IPFamily {
	return serviceFamilies(spec.familyCandidates(), existing)
}

// planFamilyQuestion is the update that asks the cluster whether it serves
// the family md's endpoints now need, or nil. When no endpoint of the
// Service's family is left (a name that answered A now answers AAAA only,
// say) and whether the cluster serves the other family is unknown, that is
// asked before replacing anything: the Service goes PreferDualStack in its
// own family, and the API server adds the other where it can.
func planFamilyQuestion(md *crddemov1.Mydemo, ref serviceRef, spec parsedSpec, existing *corev1.Service, fams []corev1.IPFamily) *corev1.Service {
	if len(existing.Spec.IPFamilies) == 0 || existing.Spec.IPFamilies[0] == fams[0] || servedFamilies(existing) != nil {
		return nil
	}
	return updatedService(existing, newService(md, ref, spec, []corev1.IPFamily{existing.Spec.IPFamilies[0], fams[0]}))
}

// serviceChange is the last write of the Service stage: at most one of
// replace (delete existing, then create this: neither the primary IP
// family of a Service nor whether it has a cluster IP can change in place)
// and update.
type serviceChange struct {
	replace *corev1.Service
	// replaceSecond, with replace, is the Service to create instead if
	// the API server refuses replace for its primary IP family, as
	// planNewService's second: a headless Service shows both families on
	// any cluster, so one going back to a cluster IP may ask first for
	// a family the cluster does not serve. nil when there is no other.
	replaceSecond *corev1.Service
	update        *corev1.Service
}

// planServiceChange is how existing (ours, after any family question)
// becomes md's Service with fams. When no endpoint of the Service's family
// is left and the cluster does not serve the family of the others, they
// are refused, and the Service stays as it is (with its cluster IP) rather
// than being replaced by one the API server would reject.
func planServiceChange(md *crddemov1.Mydemo, ref serviceRef, spec parsedSpec, existing *corev1.Service, fams []corev1.IPFamily) serviceChange {
	if served := servedFamilies(existing); served != nil && !slices.Contains(served, fams[0]) {
		return serviceChange{}
	}
	desired := newService(md, ref, spec, fams)
	replace := func() serviceChange {
		change := serviceChange{replace: desired}
		if len(fams) == 2 {
			change.replaceSecond = newService(md, ref, spec, []corev1.IPFamily{fams[1], fams[0]})
		}
		return change
	}
	if len(existing.Spec.IPFamilies) > 0 && existing.Spec.IPFamilies[0] != desired.Spec.IPFamilies[0] {
		// The cluster serves the new family: replace the Service, in
		// this sync, so the name is not left empty.
		return replace()
	}
	if isHeadless(existing) != isHeadless(desired) {
		// spec.headless changed: a cluster IP can be neither added
		// nor removed in place, so the Service is replaced the same
		// way.
		return replace()
	}
	return serviceChange{update: updatedService(existing, desired)}
}
