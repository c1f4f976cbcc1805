package controller

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
)

// Zone hints. kube-proxy routes a Service's traffic zone-locally when
// every ready endpoint of its slices carries hints.forZones and some names
// the node's zone; otherwise it ignores the hints and spreads over every
// ready endpoint. The cluster's EndpointSlice controller writes hints only
// into the slices it manages, so for ours the controller writes them: with
// spec.trafficDistribution set, each ready endpoint gets a hint for its
// own zone. A zone whose last endpoint goes unready then has no hint, and
// kube-proxy's own fallback sends its clients to the other zones; the
// hints follow readiness in the same slice write that readiness does, so
// they cost nothing at rest.
//
// An endpoint without a zone cannot be hinted, and one ready endpoint
// without a hint makes kube-proxy drop every hint anyway: then no hints
// are written at all, and the ZoneHints condition names those endpoints.
// A zone that is not a label value counts as none: the API server takes
// any text as an endpoint's zone but refuses it in a hint, and that
// refusal would fail the whole slice write, freezing the readiness of
// every endpoint in it (nor could such a zone match a node's
// topology.kubernetes.io/zone label).
//
// The condition claims routing only where routing happens: hints are
// written only once the slices are (the Published condition True), and
// on a headless Service they route nothing, since kube-proxy skips
// headless Services and cluster DNS answers every ready endpoint whatever
// its hint. The hints are still written there: the roles' Services have a
// cluster IP (desired.go) and route by them, and writing them costs
// nothing.

// maxZonelessListed bounds the endpoints the ZoneHints condition names.
const maxZonelessListed = 5

// zoneHints is the hint decision for one set of endpoints.
type zoneHints struct {
	// wanted: spec.trafficDistribution asks for zone-local routing.
	wanted bool
	// zoneless are the ready endpoints without a zone that can be
	// hinted; while there is one, nothing is hinted.
	zoneless []endpointView
	// published: the slices, and so their hints, are written as planned.
	published bool
	// headless: the Mydemo's own Service has no cluster IP, so nothing
	// routes by its hints; roles: its role Services, which have one, do.
	headless, roles bool
}

// zoneHintsOf decides the hints of in's endpoints for md.
func zoneHintsOf(md *crddemov1.Mydemo, in statusInput) zoneHints {
	h := zoneHints{
		wanted:    md.Spec.TrafficDistribution != nil,
		published: in.pub.published,
		headless:  md.Spec.Headless,
		roles:     len(md.Spec.Roles) > 0,
	}
	if !h.wanted {
		return h
	}
	for _, v := range in.endpoints {
		if v.ready(in.failOpen) && !hintable(v.zone) {
			h.zoneless = append(h.zoneless, v)
		}
	}
	return h
}

// hintable reports whether zone can name a hint: a label value, not "".
func hintable(zone string) bool {
	return zone != "" && len(validation.IsValidLabelValue(zone)) == 0
}

// hintFor is the zone v's slice entry is hinted for, or "".
func (h zoneHints) hintFor(v endpointView, failOpen bool) string {
	if !h.wanted || len(h.zoneless) > 0 || !v.ready(failOpen) {
		return ""
	}
	return v.zone
}

// condition is the ZoneHints condition's status, reason and message; ok
// is false when md has no such condition (no trafficDistribution).
func (h zoneHints) condition() (ok, hinted bool, reason, message string) {
	switch {
	case !h.wanted:
		return false, false, "", ""
	case len(h.zoneless) > 0:
		// First: it says no hint is written, true whatever else holds,
		// and names what the user can fix.
		return true, false, reasonEndpointsWithoutZone, fmt.Sprintf(msgEndpointsWithoutZone, h.zonelessList())
	case !h.published:
		return true, false, reasonNotPublished, msgZoneHintsNotPublished
	case h.headless && h.roles:
		return true, false, reasonHeadlessService, msgHeadlessServiceRoles
	case h.headless:
		return true, false, reasonHeadlessService, msgHeadlessService
	}
	return true, true, reasonZoneHintsWritten, msgZoneHintsWritten
}

// zonelessList names the first maxZonelessListed endpoints without a
// zone, and how many more there are.
func (h zoneHints) zonelessList() string {
	names := make([]string, 0, min(len(h.zoneless), maxZonelessListed))
	for _, v := range h.zoneless[:min(len(h.zoneless), maxZonelessListed)] {
		names = append(names, endpointLabel(v))
	}
	list := strings.Join(names, ", ")
	if more := len(h.zoneless) - len(names); more > 0 {
		list += fmt.Sprintf(" and %d more", more)
	}
	return list
}

// endpointLabel names v for a message: its address, with the name or
// hostname it comes from.
func endpointLabel(v endpointView) string {
	switch {
	case v.name != "":
		return fmt.Sprintf("%s (%s)", v.addr, v.name)
	case v.hostname != "":
		return fmt.Sprintf("%s (%s)", v.addr, v.hostname)
	}
	return v.addr.String()
}
