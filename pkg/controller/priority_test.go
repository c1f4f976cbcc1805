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
		name          string
		key           cache.ObjectName
		slicesWritten bool
		queued        int
		advance       time.Duration
		want          bool
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
		if got := d.deferred(s.key, s.slicesWritten, s.queued); got != s.want {
			t.Errorf("%s: deferred = %v, want %v", s.name, got, s.want)
		}
	}
	d.deferred(b, true, 5)
	d.forget(b)
	if d.deferred(b, false, 5) {
		t.Error("a forgotten key still waits")
	}
}
