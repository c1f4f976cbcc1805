package controller

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/probe"
)

var testTarget = probe.Target{Address: "10.1.2.3:80", Period: time.Second, Timeout: time.Second, SuccessThreshold: 1, FailureThreshold: 1}

func TestComputeStatusTransitionTimes(t *testing.T) {
	md := newMydemo("web", "10.1.2.3", 80)
	pub := publication{published: true, reason: ReasonPublished, message: "published", serviceName: "web", clusterIP: "10.96.0.1"}
	t0 := metav1.NewTime(fixedNow)
	t1 := metav1.NewTime(fixedNow.Add(time.Minute))
	t2 := metav1.NewTime(fixedNow.Add(2 * time.Minute))

	md.Status = computeStatus(md, pub, reachability{probed: true, endpoint: "10.1.2.3:80", state: probe.State{Reachability: probe.Reachable}}, t0)
	// Same verdict a minute later: nothing changes, so nothing is written.
	same := computeStatus(md, pub, reachability{probed: true, endpoint: "10.1.2.3:80", state: probe.State{Reachability: probe.Reachable}}, t1)
	if !statusEqual(md.Status, same) {
		t.Fatalf("unchanged inputs changed status:\n%+v\n%+v", md.Status, same)
	}
	// Unreachable: Reachable and Ready move, Published keeps its time.
	down := computeStatus(md, pub, reachability{probed: true, endpoint: "10.1.2.3:80", state: probe.State{Reachability: probe.Unreachable, Message: "i/o timeout"}}, t2)
	for condType, want := range map[string]metav1.Time{
		crddemov1.ConditionPublished: t0,
		crddemov1.ConditionReachable: t2,
		crddemov1.ConditionReady:     t2,
	} {
		if got := meta.FindStatusCondition(down.Conditions, condType).LastTransitionTime; !got.Equal(&want) {
			t.Errorf("%s lastTransitionTime = %v, want %v", condType, got, want)
		}
	}
	events := transitions(md.Status.Conditions, down.Conditions, pub)
	if len(events) != 1 || events[0].reason != ReasonUnreachable || events[0].eventType != "Warning" {
		t.Errorf("events = %+v", events)
	}
}

func TestComputeStatusReadyReasons(t *testing.T) {
	published := publication{published: true, reason: ReasonPublished}
	for name, tc := range map[string]struct {
		pub        publication
		reach      reachability
		wantReady  metav1.ConditionStatus
		wantReason string
	}{
		"not published":  {publication{reason: ReasonServiceConflict, message: "x"}, reachability{probed: true}, metav1.ConditionFalse, reasonNotPublished},
		"probe off":      {published, reachability{}, metav1.ConditionTrue, reasonReady},
		"awaiting probe": {published, reachability{probed: true}, metav1.ConditionFalse, reasonAwaitingProbe},
		"reachable":      {published, reachability{probed: true, state: probe.State{Reachability: probe.Reachable}}, metav1.ConditionTrue, reasonReady},
		"unreachable":    {published, reachability{probed: true, state: probe.State{Reachability: probe.Unreachable}}, metav1.ConditionFalse, reasonNotReachable},
	} {
		t.Run(name, func(t *testing.T) {
			st := computeStatus(newMydemo("x", "10.1.2.3", 80), tc.pub, tc.reach, metav1.NewTime(fixedNow))
			ready := meta.FindStatusCondition(st.Conditions, crddemov1.ConditionReady)
			if ready.Status != tc.wantReady || ready.Reason != tc.wantReason {
				t.Errorf("Ready = %s/%s, want %s/%s", ready.Status, ready.Reason, tc.wantReady, tc.wantReason)
			}
		})
	}
}
