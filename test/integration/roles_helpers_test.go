package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/controller"
)

// roleStatus is status.roles' entry for role, or a zero one.
func roleStatus(md *crddemov1.Mydemo, role string) crddemov1.RoleStatus {
	for _, r := range md.Status.Roles {
		if r.Name == role {
			return r
		}
	}
	return crddemov1.RoleStatus{}
}

// endpointRoles is status.endpoints[].roles by address.
func endpointRoles(md *crddemov1.Mydemo) map[string][]string {
	out := map[string][]string{}
	for _, ep := range md.Status.Endpoints {
		out[ep.Address] = ep.Roles
	}
	return out
}

// waitRole waits until status.roles says role publishes exactly members
// (in status order) with the given reason, and returns the Mydemo.
func (e *env) waitRole(name, role, reason string, timeout time.Duration, members ...string) *crddemov1.Mydemo {
	e.t.Helper()
	var md *crddemov1.Mydemo
	e.eventually(timeout, fmt.Sprintf("role %s of %s: %s %v", role, name, reason, members), func() (bool, string) {
		var err error
		md, err = e.client.CrddemoV1().Mydemos(e.ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		rs := roleStatus(md, role)
		return rs.Reason == reason && slices.Equal(rs.Endpoints, members) && int(rs.Ready) == len(members),
			fmt.Sprintf("%+v", rs)
	})
	return md
}

// readyIn are the addresses a slice publishes as ready.
func readyIn(s *discoveryv1.EndpointSlice) []string {
	var out []string
	for _, ep := range s.Endpoints {
		if len(ep.Addresses) > 0 && ep.Conditions.Ready != nil && *ep.Conditions.Ready {
			out = append(out, ep.Addresses...)
		}
	}
	slices.Sort(out)
	return out
}

// serviceReady waits until the slices of Service svc publish exactly
// addrs as ready (and each is labelled with role, when role is set).
func (e *env) serviceReady(svc, role string, timeout time.Duration, addrs ...string) {
	e.t.Helper()
	want := slices.Clone(addrs)
	slices.Sort(want)
	e.eventually(timeout, fmt.Sprintf("Service %s publishes %v", svc, want), func() (bool, string) {
		list, err := e.kube.DiscoveryV1().EndpointSlices(e.ns).List(context.Background(), metav1.ListOptions{
			LabelSelector: discoveryv1.LabelServiceName + "=" + svc,
		})
		if err != nil {
			return false, err.Error()
		}
		var got []string
		for i := range list.Items {
			s := &list.Items[i]
			if role != "" && s.Labels[controller.LabelRole] != role {
				return false, fmt.Sprintf("slice %s labelled %v", s.Name, s.Labels)
			}
			got = append(got, readyIn(s)...)
		}
		slices.Sort(got)
		return slices.Equal(got, want), fmt.Sprintf("%d slices, ready %v", len(list.Items), got)
	})
}

// sliceEvent is one event of a watch on a role's slices, as received.
type sliceEvent struct {
	at    time.Time
	typ   watch.EventType
	name  string
	rv    string
	ready []string
}

// sliceRecorder records every event of a watch on one Service's slices.
type sliceRecorder struct {
	mu     sync.Mutex
	events []sliceEvent
	stop   func() int
}

// recordSlices watches the slices of Service svc from now on and records
// every event; an event that shows more than most ready endpoints in one
// slice fails the test (most < 0: no limit). The Service's slices are
// one per family, and a bounded role's endpoints are of one family here.
func (e *env) recordSlices(svc string, most int) *sliceRecorder {
	e.t.Helper()
	sel := discoveryv1.LabelServiceName + "=" + svc
	list, err := e.kube.DiscoveryV1().EndpointSlices(e.ns).List(context.Background(), metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		e.t.Fatal(err)
	}
	rec := &sliceRecorder{}
	rec.stop = e.watchSlices(metav1.ListOptions{LabelSelector: sel, ResourceVersion: list.ResourceVersion}, func(typ watch.EventType, s *discoveryv1.EndpointSlice) (bool, string) {
		ev := sliceEvent{at: time.Now(), typ: typ, name: s.Name, rv: s.ResourceVersion, ready: readyIn(s)}
		rec.mu.Lock()
		rec.events = append(rec.events, ev)
		rec.mu.Unlock()
		if most >= 0 && typ != watch.Deleted && len(ev.ready) > most {
			return true, fmt.Sprintf("%d ready endpoints %v at resourceVersion %s, at most %d allowed", len(ev.ready), ev.ready, ev.rv, most)
		}
		return false, ""
	})
	return rec
}

// since are the events received at or after t.
func (r *sliceRecorder) since(t time.Time) []sliceEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []sliceEvent
	for _, ev := range r.events {
		if !ev.at.Before(t) {
			out = append(out, ev)
		}
	}
	return out
}

// writes counts the distinct resourceVersions of events received at or
// after t: each is one write of a slice.
func (r *sliceRecorder) writes(t time.Time) int {
	seen := map[string]bool{}
	for _, ev := range r.since(t) {
		seen[ev.name+"@"+ev.rv] = true
	}
	return len(seen)
}

// firstShowing is when an event at or after t first showed exactly addrs
// as the ready endpoints of a slice.
func (r *sliceRecorder) firstShowing(t time.Time, addrs ...string) (time.Time, bool) {
	for _, ev := range r.since(t) {
		if ev.typ != watch.Deleted && slices.Equal(ev.ready, addrs) {
			return ev.at, true
		}
	}
	return time.Time{}, false
}

func (r *sliceRecorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, ev := range r.events {
		fmt.Fprintf(&b, "\n  %s %s %s rv=%s ready=%v", ev.at.Format("15:04:05.000"), ev.typ, ev.name, ev.rv, ev.ready)
	}
	return b.String()
}

// roleEventsSaying are the Events about name with reason whose message
// contains want, counting repeats the recorder aggregated.
func (e *env) roleEventsSaying(name, eventType, reason, want string) (int, []string) {
	e.t.Helper()
	list, err := e.kube.CoreV1().Events(e.ns).List(context.Background(), metav1.ListOptions{
		FieldSelector: "involvedObject.name=" + name + ",reason=" + reason,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	var msgs []string
	for _, ev := range list.Items {
		if ev.Type != eventType {
			continue
		}
		msgs = append(msgs, fmt.Sprintf("%s (x%d)", ev.Message, max(ev.Count, 1)))
		if strings.Contains(ev.Message, want) {
			n += int(max(ev.Count, 1))
		}
	}
	return n, msgs
}

// warningSaying waits for a Warning Event about name with reason whose
// message contains want.
func (e *env) warningSaying(name, reason, want string, timeout time.Duration) {
	e.t.Helper()
	e.eventually(timeout, "Warning "+reason+" for "+name+" saying "+want, func() (bool, string) {
		n, msgs := e.roleEventsSaying(name, corev1.EventTypeWarning, reason, want)
		return n > 0, strings.Join(msgs, "; ")
	})
}
