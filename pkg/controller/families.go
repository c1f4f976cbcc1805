package controller

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/crddemo/crddemo/pkg/probe"
)

// A Mydemo may list endpoints of both IP families on a cluster that serves
// Services of one family only (a hostname that gains an AAAA record on an
// IPv4 cluster is the usual way). The cluster says which families it
// serves through the Service itself: the controller asks for the family of
// its first endpoint with PreferDualStack, and the API server adds the
// second family only where it can. An endpoint of a family the Service
// did not get is refused with ReasonFamilyNotServed, alone: the family that
// works keeps its Service and slices.

// servedFamilies returns the families the cluster gave svc, when svc shows
// them: a PreferDualStack or RequireDualStack Service got every family the
// cluster serves (at most two). A single-stack Service, or none, says
// nothing about the other family: nil.
func servedFamilies(svc *corev1.Service) []corev1.IPFamily {
	if svc == nil || svc.Spec.IPFamilyPolicy == nil || *svc.Spec.IPFamilyPolicy == corev1.IPFamilyPolicySingleStack {
		return nil
	}
	return svc.Spec.IPFamilies
}

// refuseUnservedFamilies refuses, in spec and in the endpoints of in (nil
// when there are none yet), every published endpoint whose family is not in
// served, and reports whether it refused any. nil served refuses nothing.
func refuseUnservedFamilies(spec *parsedSpec, in *statusInput, served []corev1.IPFamily) bool {
	if len(served) == 0 {
		return false
	}
	refuse := func(e *endpoint) bool {
		if e.refused != "" || slices.Contains(served, e.family()) {
			return false
		}
		e.refusedReason = ReasonFamilyNotServed
		e.refused = fmt.Sprintf(msgFamilyNotServed, e.family(), served[0])
		return true
	}
	refused := false
	for i := range spec.endpoints {
		refused = refuse(&spec.endpoints[i]) || refused
	}
	if in != nil {
		for i := range in.endpoints {
			v := &in.endpoints[i]
			if refuse(&v.endpoint) {
				// Refused endpoints are neither probed nor counted
				// as probed.
				v.probed, v.port, v.state = false, 0, probe.State{}
			}
		}
	}
	return refused
}

// familyCandidates are the endpoints that decide the Service's families:
// the published ones and those refused only for their family, so that a
// Service asks for both families as long as the spec has both, and does
// not flip between single- and dual-stack as the refusal comes and goes.
func (p parsedSpec) familyCandidates() []endpoint {
	out := make([]endpoint, 0, len(p.endpoints))
	for _, e := range p.endpoints {
		if e.refused == "" || e.refusedReason == ReasonFamilyNotServed {
			out = append(out, e)
		}
	}
	return out
}

// isUnservedFamily reports whether the API server refused a Service for
// asking for an IP family the cluster does not serve.
func isUnservedFamily(err error) bool {
	if !apierrors.IsInvalid(err) {
		return false
	}
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Details == nil {
		return false
	}
	for _, c := range status.Status().Details.Causes {
		if c.Type == metav1.CauseTypeFieldValueInvalid && strings.HasPrefix(c.Field, "spec.ipFamilies") {
			return true
		}
	}
	return false
}
