package controller

import (
	"sync"
	"time"

	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
)

// When many endpoints change at once (an outage, a policy change, a
// restart of a probed service), every Mydemo needs an EndpointSlice
// update, which moves traffic, and a status write and an Event, which only
// report it. Done in one pass per Mydemo, the last slice of the batch waits
// behind all the statuses and Events before it. So a sync that wrote the
// slices of a published Mydemo while other Mydemos are queued leaves its
// status for later, and the status is written once the queue has drained:
// the data plane first, then the reports.
//
// A Mydemo's first publication does not defer its status. They take no traffic
// away from a failing endpoint, which is what the ordering is for, and the
// status write goes through the Mydemo client, whose rate limit the slice
// writes do not use: when thousands of Mydemos are created at once,
// deferring would leave that budget idle while the slices are written and
// then write every status last, so the last Mydemo would be Ready later
// than if each were published whole.
const (
	// statusRecheck is how often the waiting statuses are looked at.
	statusRecheck = 200 * time.Millisecond
	// maxStatusDeferral bounds how long a status may wait behind other
	// Mydemos' slices, so a queue that never drains cannot starve it.
	maxStatusDeferral = 10 * time.Second
)

// statusDeferrals records the Mydemos whose status write waits for the
// queue to drain, and since when. A waiting key is not re-synced on a
// timer: release hands the keys back to the queue once it has drained (or
// once a key has waited maxStatusDeferral). Re-queueing each waiting key
// every recheck would cost a sync per key and recheck, and would keep the
// queue from ever looking empty while two or more keys wait.
type statusDeferrals struct {
	clock    clock.PassiveClock
	mu       sync.Mutex
	since    map[cache.ObjectName]time.Time
	released map[cache.ObjectName]bool
}

func newStatusDeferrals(c clock.PassiveClock) *statusDeferrals {
	return &statusDeferrals{clock: c, since: map[cache.ObjectName]time.Time{}, released: map[cache.ObjectName]bool{}}
}

// deferred reports whether key's status write should wait: this sync moved
// traffic (or an earlier one did and the status still waits), other keys
// are queued, and it has not been released or waited for maxStatusDeferral.
func (d *statusDeferrals) deferred(key cache.ObjectName, trafficMoved bool, queued int) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	since, waiting := d.since[key]
	switch {
	case d.released[key]:
		delete(d.since, key)
		delete(d.released, key)
		return false
	case !trafficMoved && !waiting:
		return false
	case queued == 0 || (waiting && d.clock.Since(since) >= maxStatusDeferral):
		delete(d.since, key)
		return false
	}
	if !waiting {
		d.since[key] = d.clock.Now()
	}
	return true
}

// release returns the waiting keys whose status may be written now, and
// marks them so that their next sync writes it: every key when the queue
// is empty, otherwise those that have waited maxStatusDeferral. A key is
// returned once per wait.
func (d *statusDeferrals) release(queued int) []cache.ObjectName {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []cache.ObjectName
	for key, since := range d.since {
		if d.released[key] || (queued > 0 && d.clock.Since(since) < maxStatusDeferral) {
			continue
		}
		d.released[key] = true
		out = append(out, key)
	}
	return out
}

func (d *statusDeferrals) forget(key cache.ObjectName) {
	d.mu.Lock()
	delete(d.since, key)
	delete(d.released, key)
	d.mu.Unlock()
}
