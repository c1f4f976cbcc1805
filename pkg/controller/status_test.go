package controller

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/probe"
	"github.com/crddemo/crddemo/pkg/probe/check"
)

var published = publication{published: true, serviceOurs: true, reason: ReasonPublished, message: "published", serviceName: "web", clusterIP: "10.96.0.1"}

// views makes one probed endpoint per state, at 10.1.0.1, 10.1.0.2, ...
func views(states ...probe.State) []endpointView {
	out := make([]endpointView, len(states))
	for i, s := range states {
		out[i] = endpointView{endpoint: endpoint{addr: netip.AddrFrom4([4]byte{10, 1, 0, byte(i + 1)})}, port: 80, probed: true, state: s}
	}
	return out
}

func up(at time.Time) probe.State { return probe.State{Reachability: probe.Reachable, Since: at} }
func down(at time.Time, msg string) probe.State {
	return probe.State{Reachability: probe.Unreachable, Message: msg, Since: at}
}

func TestComputeStatusTransitionTimes(t *testing.T) {
	md := newMydemo("web", "10.1.2.3", 80)
	t0, t1, t2 := fixedNow, fixedNow.Add(time.Minute), fixedNow.Add(2*time.Minute)
	verdictAt := fixedNow.Add(90 * time.Second)

	md.Status = computeStatus(md, statusInput{pub: published, endpoints: views(up(t0))}, t0)
	// Same verdict a minute later: nothing changes, so nothing is written.
	if same := computeStatus(md, statusInput{pub: published, endpoints: views(up(t0))}, t1); !statusEqual(md.Status, same) {
		t.Fatalf("unchanged inputs changed status:\n%+v\n%+v", md.Status, same)
	}
	// Unreachable: Reachable takes the prober's time, Ready the sync's,
	// Published keeps its time.
	after := computeStatus(md, statusInput{pub: published, endpoints: views(down(verdictAt, "i/o timeout"))}, t2)
	for condType, want := range map[string]time.Time{
		crddemov1.ConditionPublished: t0,
		crddemov1.ConditionReachable: verdictAt,
		crddemov1.ConditionReady:     t2,
	} {
		if got := meta.FindStatusCondition(after.Conditions, condType).LastTransitionTime; !got.Time.Equal(want) {
			t.Errorf("%s lastTransitionTime = %v, want %v", condType, got, want)
		}
	}
	if ep := after.Endpoints[0]; ep.Probe != crddemov1.ProbeUnreachable || ep.Ready || ep.Message != "i/o timeout" || !ep.LastTransitionTime.Time.Equal(verdictAt) {
		t.Errorf("endpoint status %+v", ep)
	}
	events := transitions(md.Status, after)
	if len(events) != 1 || events[0].reason != ReasonUnreachable || events[0].eventType != "Warning" || !strings.Contains(events[0].message, "i/o timeout") {
		t.Errorf("events = %+v", events)
	}
}

func TestComputeStatusPartialHealth(t *testing.T) {
	md := newMydemo("db", "10.1.2.3", 5432)
	for name, tc := range map[string]struct {
		obs                     statusInput
		wantReady               metav1.ConditionStatus
		wantReason, wantSummary string
	}{
		"not published":  {statusInput{pub: publication{reason: ReasonServiceConflict, message: "x"}, endpoints: views(up(fixedNow))}, metav1.ConditionFalse, reasonNotPublished, "1/1"},
		"probe off":      {statusInput{pub: published, probeOff: msgProbeDisabledNone, endpoints: []endpointView{{endpoint: endpoint{addr: netip.MustParseAddr("10.1.0.1")}}}}, metav1.ConditionTrue, reasonReady, "1/1"},
		"awaiting probe": {statusInput{pub: published, endpoints: views(probe.State{})}, metav1.ConditionFalse, reasonAwaitingProbe, "0/1"},
		"all ready":      {statusInput{pub: published, endpoints: views(up(fixedNow), up(fixedNow), up(fixedNow))}, metav1.ConditionTrue, reasonReady, "3/3"},
		"2 of 3":         {statusInput{pub: published, endpoints: views(up(fixedNow), down(fixedNow, "connection refused"), up(fixedNow))}, metav1.ConditionTrue, reasonPartiallyReady, "2/3"},
		"none":           {statusInput{pub: published, endpoints: views(down(fixedNow, "a"), down(fixedNow, "b"))}, metav1.ConditionFalse, reasonNotReachable, "0/2"},
		"fail open":      {statusInput{pub: published, failOpen: true, endpoints: views(down(fixedNow, "a"), down(fixedNow, "b"))}, metav1.ConditionTrue, reasonFailOpen, "2/2"},
	} {
		t.Run(name, func(t *testing.T) {
			st := computeStatus(md, tc.obs, fixedNow)
			ready := meta.FindStatusCondition(st.Conditions, crddemov1.ConditionReady)
			if ready.Status != tc.wantReady || ready.Reason != tc.wantReason {
				t.Errorf("Ready = %s/%s, want %s/%s", ready.Status, ready.Reason, tc.wantReady, tc.wantReason)
			}
			if st.EndpointsReady != tc.wantSummary {
				t.Errorf("endpointsReady %q, want %q", st.EndpointsReady, tc.wantSummary)
			}
		})
	}
}

// TestEventsBounded: however many endpoints flip at once, one sync sends
// one readiness Event, naming a few of them.
func TestEventsBounded(t *testing.T) {
	md := newMydemo("big", "10.1.2.3", 80)
	n := 1000
	ups, downs := make([]probe.State, n), make([]probe.State, n)
	for i := range n {
		ups[i], downs[i] = up(fixedNow), down(fixedNow.Add(time.Minute), "connection refused")
	}
	md.Status = computeStatus(md, statusInput{pub: published, endpoints: views(ups...)}, fixedNow)
	after := computeStatus(md, statusInput{pub: published, endpoints: views(downs...)}, fixedNow.Add(time.Minute))
	events := transitions(md.Status, after)
	if len(events) != 1 || !strings.Contains(events[0].message, "and 997 more") {
		t.Fatalf("events for %d endpoints going down: %+v", n, events)
	}
}

// TestStatusEqualIgnoresWording: a status whose messages were written by
// another version (other wording, same facts) is not rewritten.
func TestStatusEqualIgnoresWording(t *testing.T) {
	md := newMydemo("web", "10.1.2.3", 80)
	obs := statusInput{pub: published, endpoints: views(up(fixedNow))}
	md.Status = computeStatus(md, obs, fixedNow)
	for i := range md.Status.Conditions {
		md.Status.Conditions[i].Message = "worded differently"
	}
	if !statusEqual(md.Status, computeStatus(md, obs, fixedNow.Add(time.Hour))) {
		t.Error("a change of wording alone makes a write")
	}
	md.Status.Conditions[0].Reason = "Other"
	if statusEqual(md.Status, computeStatus(md, obs, fixedNow)) {
		t.Error("a changed reason is not a change")
	}
}

// TestForeignConditionsFit: conditions of other clients never push the
// list past the CRD's limit.
func TestForeignConditionsFit(t *testing.T) {
	// With trafficDistribution, so that ZoneHints is there too.
	md := newMydemo("web", "10.1.2.3", 80, preferSameZone)
	for i := range 20 {
		md.Status.Conditions = append(md.Status.Conditions, metav1.Condition{Type: "Foreign" + string(rune('A'+i)), Status: metav1.ConditionTrue, Reason: "X"})
	}
	// With a certificate, so that every own condition is there.
	st := computeStatus(md, certInput(withCert(up(fixedNow), fixedNow.Add(30*day))), fixedNow)
	if len(st.Conditions) > maxConditions {
		t.Fatalf("%d conditions, limit %d", len(st.Conditions), maxConditions)
	}
	for _, c := range ownConditions {
		if meta.FindStatusCondition(st.Conditions, c) == nil {
			t.Errorf("own condition %s dropped", c)
		}
	}
}

// TestFailOpenWarns: panic mode starting sends one Warning FailOpen.
func TestFailOpenWarns(t *testing.T) {
	md := newMydemo("web", "10.1.2.3", 80)
	md.Status = computeStatus(md, statusInput{pub: published, endpoints: views(up(fixedNow), up(fixedNow))}, fixedNow)
	after := computeStatus(md, statusInput{pub: published, failOpen: true, endpoints: views(down(fixedNow, "a"), down(fixedNow, "b"))}, fixedNow)
	events := transitions(md.Status, after)
	if len(events) != 1 || events[0].reason != ReasonFailOpen || events[0].eventType != "Warning" {
		t.Errorf("events %+v", events)
	}
}

// Worst case of one status, for TestWorstCaseStatusSize: the most
// endpoints a Mydemo publishes, each from its own hostname of the longest
// DNS name, with the longest address text.
const (
	worstCaseEndpoints = 1000
	// worstCaseStatusBytes bounds the JSON of that status. etcd refuses a
	// request over 1.5 MiB, for the whole object; this leaves 0.45 MiB
	// of it to the spec and metadata. About 765 KB of it are the
	// addresses, hostnames, certificate dates and fields that do not
	// depend on messages, and about 85 KB the roles every endpoint
	// lists (MaxRoles of the longest name). A spec that fills the rest
	// (1,000 endpoints with the longest hostnames, zones and names, and
	// probes with the largest CA bundles) does not fit beside it: such an
	// object's status write is refused as too large, and retried.
	worstCaseStatusBytes = 1080 << 10
)

// hostileText is n bytes that are distinct for every i, with everything a
// bound must remove: invalid UTF-8, control bytes and a query.
func hostileText(i, n int) string {
	s := fmt.Sprintf("failure %d /health?token=SECRET ", i) + strings.Repeat("\xff\x01é", n/4)
	return s[:n]
}

// longHostname is the i-th distinct hostname of 253 characters.
func longHostname(i int) string {
	label := strings.Repeat("a", 63)
	return fmt.Sprintf("h%05d", i) + label[6:] + "." + label + "." + label + "." + label[:61]
}

// TestWorstCaseStatusSize builds the status of 1,000 endpoints with every
// field at its maximum and every message long, distinct and hostile, both
// as probe failures and as refused addresses, and checks that it fits,
// that every message is bounded and printable, and that the Events of the
// change are bounded too.
func TestWorstCaseStatusSize(t *testing.T) {
	md := newMydemo("w"+strings.Repeat("x", 62), "10.1.2.3", 80)
	md.Generation = 1 << 62
	pub := publication{
		published: true, serviceOurs: true, reason: ReasonWriteFailed,
		message:     fmt.Sprintf(msgWriteFailed, "EndpointSlice", "x", hostileText(0, 40_000)),
		serviceName: md.Name,
		clusterIP:   "fd00:1234:5678:9abc:def0:1234:5678:9abc",
		clusterIPs:  []string{"255.255.255.254", "fd00:1234:5678:9abc:def0:1234:5678:9abc"},
	}
	build := func(refused bool) statusInput {
		o := statusInput{pub: pub, answers: map[string]hostAnswer{}}
		// Every role there may be, of the longest name, with every
		// endpoint a member: each endpoint lists them all.
		for r := range crddemov1.MaxRoles {
			name := fmt.Sprintf("r%d", r) + strings.Repeat("o", 13)
			ref := serviceRef{name: md.Name[:62-len(name)] + "-" + name, role: name}
			o.roles = append(o.roles, roleView{roleSpec: roleSpec{ref: ref}})
			o.roleResults = append(o.roleResults, roleResult{ref: ref, reason: crddemov1.RoleConflict, message: hostileText(r, 10_000)})
		}
		for i := range worstCaseEndpoints {
			a := [16]byte{0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, byte(i>>8 | 0x10), byte(i)}
			name := longHostname(i)
			v := endpointView{endpoint: endpoint{addr: netip.AddrFrom16(a), hostname: name, zone: strings.Repeat("z", 63)}, port: 65535, probed: true,
				state: withCert(down(fixedNow, hostileText(i, 10_000)), fixedNow.Add(time.Duration(i)*time.Hour))}
			if refused {
				v.refused, v.refusedReason = msgRefusedPrefix+hostileText(i, 10_000), "NotAllowedByPolicy"
			}
			o.endpoints = append(o.endpoints, v)
			for r := range o.roleResults {
				if !refused {
					o.roleResults[r].members = append(o.roleResults[r].members, v.addr)
				}
			}
			o.hostnames = append(o.hostnames, name)
			o.answers[name] = hostAnswer{addresses: 4000, message: hostileText(i, 10_000)}
		}
		return o
	}
	for _, refused := range []bool{false, true} {
		t.Run(fmt.Sprintf("refused=%v", refused), func(t *testing.T) {
			st := computeStatus(md, build(refused), fixedNow)
			b, err := json.Marshal(st)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("status of %d endpoints and %d hostnames: %d bytes (bound %d)", len(st.Endpoints), len(st.Hostnames), len(b), worstCaseStatusBytes)
			if len(b) > worstCaseStatusBytes {
				t.Errorf("status of %d bytes, bound %d", len(b), worstCaseStatusBytes)
			}
			var texts []string
			for _, e := range st.Endpoints {
				texts = append(texts, e.Message)
			}
			for _, h := range st.Hostnames {
				texts = append(texts, h.Message)
			}
			for _, text := range texts {
				checkText(t, "message", text, check.MaxMessageBytes)
			}
			for _, c := range st.Conditions {
				checkText(t, c.Type+" condition message", c.Message, maxConditionMessageBytes)
			}
			before := computeStatus(md, statusInput{pub: published, endpoints: views(up(fixedNow))}, fixedNow)
			for _, ev := range append(transitions(crddemov1.MydemoStatus{}, st), transitions(before, st)...) {
				checkText(t, ev.reason+" Event", ev.message, maxEventMessageBytes)
			}
		})
	}
}

// checkText fails t unless text is at most limit bytes of printable UTF-8
// without the query of hostileText.
func checkText(t *testing.T, what, text string, limit int) {
	t.Helper()
	if len(text) > limit || !utf8.ValidString(text) || strings.ContainsFunc(text, func(r rune) bool { return !unicode.IsPrint(r) }) ||
		strings.Contains(text, "SECRET") {
		t.Errorf("%s of %d bytes (bound %d) is not bounded, printable text: %.100q…", what, len(text), limit, text)
	}
}

// TestStatusMessagesStayWholeWithinBudget: the common case, 1,000
// endpoints with the same short message, keeps every message whole.
func TestStatusMessagesStayWholeWithinBudget(t *testing.T) {
	md := newMydemo("web", "10.1.2.3", 80)
	downs := make([]probe.State, worstCaseEndpoints)
	for i := range downs {
		downs[i] = down(fixedNow, "HTTP 503 from GET /healthz")
	}
	st := computeStatus(md, statusInput{pub: published, endpoints: views(downs...)}, fixedNow)
	for _, e := range st.Endpoints {
		if e.Message != "HTTP 503 from GET /healthz" {
			t.Fatalf("endpoint %s: message %q", e.Address, e.Message)
		}
	}
}
