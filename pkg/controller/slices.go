package controller

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
)

// maxEndpointsPerSlice is the most endpoints one EndpointSlice holds, as
// kube-controller-manager's default: small slices keep each update small,
// since a flip rewrites only the slice that holds the endpoint.
const maxEndpointsPerSlice = 100

// sliceEndpoint is an endpoint as it goes into a slice, with its
// conditions. An endpoint in rotation is serving exactly when it is ready;
// a draining one is terminating and not ready, and serving says whether it
// would be ready otherwise, which is how kube-proxy tells an endpoint that
// finishes its connections from one that is gone.
type sliceEndpoint struct {
	addr string
	// name is the entry's hostname (spec.endpoints[].name), "" for none.
	name string
	zone string
	// hintZone, when set, is the zone the entry's hint names (zones.go).
	hintZone    string
	ready       bool
	serving     bool
	terminating bool
}

// slicePlan is what to write so that md's slices hold exactly the wanted
// endpoints.
type slicePlan struct {
	create []*discoveryv1.EndpointSlice
	update []*discoveryv1.EndpointSlice
	delete []*discoveryv1.EndpointSlice
	// removeFirst sends the deletes, then the updates, then the creates,
	// so that no endpoint is added before the ones leaving are gone (a
	// role with maxEndpoints). Otherwise creates go first, so that a
	// Service is never left without the endpoints it keeps.
	removeFirst bool
}

func (p slicePlan) empty() bool {
	return len(p.create) == 0 && len(p.update) == 0 && len(p.delete) == 0
}

// planSlices decides the EndpointSlices of md's Service ref: one set per address family,
// at most maxEndpointsPerSlice endpoints each. It is stable: an endpoint
// that is already in a slice stays there, a new one goes into the first
// slice with room (or a new slice), and a slice is written only when its own
// content changes, so adding, removing or flipping one endpoint rewrites
// only the slice that holds it. existing are the slices of ref that md
// controls.
func planSlices(md *crddemov1.Mydemo, ref serviceRef, want []sliceEndpoint, ports []servicePort, existing []*discoveryv1.EndpointSlice) slicePlan {
	byFamily := map[discoveryv1.AddressType][]sliceEndpoint{}
	for _, e := range want {
		t := addressTypeOf(e.addr)
		byFamily[t] = append(byFamily[t], e)
	}
	have := map[discoveryv1.AddressType][]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		have[s.AddressType] = append(have[s.AddressType], s)
	}
	var plan slicePlan
	for _, t := range []discoveryv1.AddressType{discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6} {
		planFamily(&plan, md, ref, t, byFamily[t], ports, have[t])
		delete(have, t)
	}
	// Slices of any other address type (FQDN) are not ours to keep.
	for _, rest := range have {
		plan.delete = append(plan.delete, rest...)
	}
	return plan
}

func planFamily(plan *slicePlan, md *crddemov1.Mydemo, ref serviceRef, t discoveryv1.AddressType, want []sliceEndpoint, ports []servicePort, existing []*discoveryv1.EndpointSlice) {
	slices.SortFunc(existing, func(a, b *discoveryv1.EndpointSlice) int { return cmp.Compare(a.Name, b.Name) })
	// Where each address is now.
	home := map[string]int{}
	for i, s := range existing {
		for _, e := range s.Endpoints {
			if len(e.Addresses) > 0 {
				if _, dup := home[e.Addresses[0]]; !dup {
					home[e.Addresses[0]] = i
				}
			}
		}
	}
	contents := make([][]sliceEndpoint, len(existing))
	var homeless []sliceEndpoint
	for _, e := range want {
		if i, ok := home[e.addr]; ok && len(contents[i]) < maxEndpointsPerSlice {
			contents[i] = append(contents[i], e)
			continue
		}
		homeless = append(homeless, e)
	}
	// New endpoints fill the existing slices first, then new ones. A
	// slice that takes some in lists its endpoints in want's order, not
	// the newcomers last: the next sync finds them all at home, plans
	// want's order and must find nothing to write.
	var rank map[string]int
	for i := range contents {
		if len(homeless) == 0 || len(contents[i]) >= maxEndpointsPerSlice {
			continue
		}
		for len(homeless) > 0 && len(contents[i]) < maxEndpointsPerSlice {
			contents[i] = append(contents[i], homeless[0])
			homeless = homeless[1:]
		}
		if rank == nil {
			rank = make(map[string]int, len(want))
			for j, e := range want {
				rank[e.addr] = j
			}
		}
		slices.SortFunc(contents[i], func(a, b sliceEndpoint) int { return cmp.Compare(rank[a.addr], rank[b.addr]) })
	}
	names := map[string]bool{}
	for _, s := range existing {
		names[s.Name] = true
	}
	for len(homeless) > 0 {
		n := min(len(homeless), maxEndpointsPerSlice)
		name := nextSliceName(ref, t, names)
		names[name] = true
		plan.create = append(plan.create, newEndpointSlice(md, ref, name, t, homeless[:n], ports))
		homeless = homeless[n:]
	}
	for i, s := range existing {
		if len(contents[i]) == 0 {
			plan.delete = append(plan.delete, s)
			continue
		}
		if updated := updatedEndpointSlice(s, newEndpointSlice(md, ref, s.Name, t, contents[i], ports)); updated != nil {
			plan.update = append(plan.update, updated)
		}
	}
}

// nextSliceName is the first free name of the slices of ref of type t:
// "<service>-ipv4", then "<service>-ipv4-1", "<service>-ipv4-2", ... Names
// are deterministic, so a retry after a lost response finds the slice it
// created instead of making another; they follow the Service's name, so
// two Mydemos' slices collide only where their Services do.
func nextSliceName(ref serviceRef, t discoveryv1.AddressType, taken map[string]bool) string {
	base := ref.name + "-" + strings.ToLower(string(t))
	if !taken[base] {
		return base
	}
	for i := 1; ; i++ {
		if name := base + "-" + strconv.Itoa(i); !taken[name] {
			return name
		}
	}
}

func addressTypeOf(addr string) discoveryv1.AddressType {
	if strings.Contains(addr, ":") {
		return discoveryv1.AddressTypeIPv6
	}
	return discoveryv1.AddressTypeIPv4
}

// newEndpointSlice is one slice of md's Service ref.
func newEndpointSlice(md *crddemov1.Mydemo, ref serviceRef, name string, t discoveryv1.AddressType, eps []sliceEndpoint, ports []servicePort) *discoveryv1.EndpointSlice {
	labels := childLabels(md, ref)
	labels[discoveryv1.LabelServiceName] = ref.name
	labels[discoveryv1.LabelManagedBy] = EndpointSliceManagedBy
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name:            name,
			Namespace:       md.Namespace,
			Labels:          labels,
			OwnerReferences: []metav1.OwnerReference{ownerRef(md)},
		},
		AddressType: t,
		Endpoints:   make([]discoveryv1.Endpoint, 0, len(eps)),
		Ports:       make([]discoveryv1.EndpointPort, 0, len(ports)),
	}
	for _, e := range eps {
		ep := discoveryv1.Endpoint{
			Addresses: []string{e.addr},
			Conditions: discoveryv1.EndpointConditions{
				Ready:       ptr.To(e.ready),
				Serving:     ptr.To(e.serving),
				Terminating: ptr.To(e.terminating),
			},
		}
		if e.name != "" {
			ep.Hostname = ptr.To(e.name)
		}
		if e.zone != "" {
			ep.Zone = ptr.To(e.zone)
		}
		if e.hintZone != "" {
			ep.Hints = &discoveryv1.EndpointHints{ForZones: []discoveryv1.ForZone{{Name: e.hintZone}}}
		}
		slice.Endpoints = append(slice.Endpoints, ep)
	}
	for _, p := range ports {
		slice.Ports = append(slice.Ports, discoveryv1.EndpointPort{
			Name:        ptr.To(p.name),
			Protocol:    ptr.To(p.protocol),
			Port:        ptr.To(p.port),
			AppProtocol: p.appProtocol,
		})
	}
	return slice
}

// updatedEndpointSlice returns a copy of existing changed to match desired,
// or nil when it already matches.
func updatedEndpointSlice(existing, desired *discoveryv1.EndpointSlice) *discoveryv1.EndpointSlice {
	if labelsMatch(existing.Labels, desired.Labels) &&
		equality.Semantic.DeepEqual(existing.Endpoints, desired.Endpoints) &&
		equality.Semantic.DeepEqual(existing.Ports, desired.Ports) {
		return nil
	}
	out := existing.DeepCopy()
	mergeLabels(&out.ObjectMeta, desired.Labels)
	out.Endpoints = desired.Endpoints
	out.Ports = desired.Ports
	return out
}
