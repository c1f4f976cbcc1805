package controller

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/probe/check"
)

// roleStatuses are status.roles and status.roleSummary from o, and each
// endpoint's roles (by address) for status.endpoints[].roles.
func roleStatuses(o statusInput) ([]crddemov1.RoleStatus, string, map[string][]string) {
	if len(o.roles) == 0 {
		return nil, "", nil
	}
	out := make([]crddemov1.RoleStatus, len(o.roles))
	memberOf := map[string][]string{}
	summary := make([]string, len(o.roles))
	for i, r := range o.roles {
		res := roleResult{ref: r.ref, reason: crddemov1.RoleProbing, message: msgRoleAwaitingPublication}
		if i < len(o.roleResults) {
			res = o.roleResults[i]
		}
		rs := crddemov1.RoleStatus{
			Name: r.ref.role, ServiceName: r.ref.name,
			Ready: int32(len(res.members)), Passing: int32(res.passing),
			Reason: res.reason, Message: check.Bound(res.message, maxConditionMessageBytes),
		}
		for _, a := range res.members {
			s := a.String()
			memberOf[s] = append(memberOf[s], r.ref.role)
			if len(rs.Endpoints) < crddemov1.MaxListedRoleEndpoints {
				rs.Endpoints = append(rs.Endpoints, s)
			}
		}
		out[i] = rs
		summary[i] = r.ref.role + "=" + roleAtAGlance(rs)
	}
	return out, strings.Join(summary, " "), memberOf
}

// roleAtAGlance is a role in a word for kubectl get: its one endpoint,
// how many it publishes, or why it publishes none.
func roleAtAGlance(rs crddemov1.RoleStatus) string {
	switch {
	case rs.Ready == 1:
		return rs.Endpoints[0]
	case rs.Ready > 1:
		return strconv.Itoa(int(rs.Ready))
	case rs.Reason == crddemov1.RoleConflict:
		return "conflict"
	default:
		return "none"
	}
}

// roleEvents are the Events of the role changes from old to new: one
// Normal Event naming every role whose endpoints changed ("role primary
// moved from 10.0.0.1 to 10.0.0.2"), and one Warning for the roles that
// went into conflict or lost their Service, or start out so. The members
// of a role new to the status are not announced: the spec change, or the
// first publication, is the news.
func roleEvents(old, new crddemov1.MydemoStatus) []transitionEvent {
	before := map[string]crddemov1.RoleStatus{}
	for _, r := range old.Roles {
		before[r.Name] = r
	}
	members := func(st crddemov1.MydemoStatus, role string) []string {
		var out []string
		for _, e := range st.Endpoints {
			if slices.Contains(e.Roles, role) {
				out = append(out, e.Address)
			}
		}
		return out
	}
	var changes, warnings []string
	for _, r := range new.Roles {
		prev, known := before[r.Name]
		// A role that starts out in conflict or unpublishable (its
		// Service name taken) is news all the same: nothing else
		// tells the user why it publishes nothing.
		if warnsOf(r.Reason) && (!known || r.Reason != prev.Reason) {
			warnings = append(warnings, "role "+r.Name+": "+r.Message)
		}
		if !known {
			continue
		}
		was, is := members(old, r.Name), members(new, r.Name)
		if slices.Equal(was, is) {
			continue
		}
		changes = append(changes, roleChange(r.Name, was, is))
	}
	var events []transitionEvent
	if len(changes) > 0 {
		events = append(events, transitionEvent{corev1.EventTypeNormal, ReasonRoleChanged, strings.Join(changes, "; ")})
	}
	if len(warnings) > 0 {
		events = append(events, transitionEvent{corev1.EventTypeWarning, ReasonRoleConflict, strings.Join(warnings, "; ")})
	}
	return events
}

// warnsOf reports whether a role's reason is worth a Warning when it
// starts.
func warnsOf(reason string) bool {
	return reason == crddemov1.RoleConflict || reason == crddemov1.RoleNotPublished
}

// roleChange says how a role's members went from was to is.
func roleChange(role string, was, is []string) string {
	switch {
	case len(was) == 1 && len(is) == 1:
		return fmt.Sprintf(msgRoleMoved, role, was[0], is[0])
	case len(was) == 0 && len(is) == 1:
		return fmt.Sprintf(msgRoleTaken, role, is[0])
	case len(was) == 1 && len(is) == 0:
		return fmt.Sprintf(msgRoleEmptied, role, was[0])
	}
	var joined, left []string
	for _, a := range is {
		if !slices.Contains(was, a) {
			joined = append(joined, a)
		}
	}
	for _, a := range was {
		if !slices.Contains(is, a) {
			left = append(left, a)
		}
	}
	var parts []string
	if len(joined) > 0 {
		parts = append(parts, "joined "+listSome(joined))
	}
	if len(left) > 0 {
		parts = append(parts, "left "+listSome(left))
	}
	return fmt.Sprintf(msgRoleChanged, role, strings.Join(parts, ", "), len(is))
}
