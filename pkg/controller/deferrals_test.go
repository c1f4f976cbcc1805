package controller

import (
	"testing"
	"time"

	"k8s.io/client-go/tools/cache"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestStatusDeferrals(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Unix(1000, 0))
	d := newStatusDeferrals(clk)
	a, b := cache.ObjectName{Namespace: "ns", Name: "a"}, cache.ObjectName{Namespace: "ns", Name: "b"}

	steps := []struct {
		name         string
		key          cache.ObjectName
		trafficMoved bool
		queued       int
		advance      time.Duration
		want         bool
	}{
		{"no slice written: status now", a, false, 10, 0, false},
		{"slice written, queue empty: status now", a, true, 0, 0, false},
		{"slice written, others queued: wait", a, true, 10, 0, true},
		{"still queued: keep waiting", a, false, 10, time.Second, true},
		{"another key is independent", b, false, 10, 0, false},
		{"queue drained: write", a, false, 0, 0, false},
		{"written: no longer waiting", a, false, 10, 0, false},
		{"waits again after a new slice write", a, true, 10, 0, true},
		{"never longer than maxStatusDeferral", a, false, 10, maxStatusDeferral, false},
	}
	for _, s := range steps {
		clk.SetTime(clk.Now().Add(s.advance))
		if got := d.deferred(s.key, s.trafficMoved, s.queued); got != s.want {
			t.Errorf("%s: deferred = %v, want %v", s.name, got, s.want)
		}
	}

	// release: nothing while others are queued and no key waited long;
	// every waiting key, once, when the queue is empty.
	d.deferred(a, true, 10)
	clk.SetTime(clk.Now().Add(time.Second))
	d.deferred(b, true, 10)
	if got := d.release(10); len(got) != 0 {
		t.Errorf("released %v with others queued", got)
	}
	clk.SetTime(clk.Now().Add(maxStatusDeferral - time.Second))
	if got := d.release(10); len(got) != 1 || got[0] != a {
		t.Errorf("released %v after a waited maxStatusDeferral, want only a", got)
	}
	if got := d.release(0); len(got) != 1 || got[0] != b {
		t.Errorf("released %v with the queue empty, want b (a is already released)", got)
	}
	if got := d.release(0); len(got) != 0 {
		t.Errorf("released %v twice", got)
	}
	// A released key writes at its next sync, even with others queued.
	if d.deferred(a, true, 10) || d.deferred(b, false, 10) {
		t.Error("a released key still waits")
	}
	if got := d.release(0); len(got) != 0 {
		t.Errorf("released %v after their statuses were written", got)
	}

	d.deferred(b, true, 5)
	d.forget(b)
	if d.deferred(b, false, 5) {
		t.Error("a forgotten key still waits")
	}
}
