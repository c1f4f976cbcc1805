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
// behind all the statuses and Events before it. So a sync that wrote a
// slice while other Mydemos are queued leaves its status for later, and
// the status is written once the queue has drained: the data plane first,
// then the reports.
const (
	// statusRecheck is how soon a deferred status is looked at again.
	statusRecheck = 200 * time.Millisecond
	// maxStatusDeferral bounds how long a status may wait behind other
	// Mydemos' slices, so a queue that never drains cannot starve it.
	maxStatusDeferral = 10 * time.Second
)

// statusDeferrals records the Mydemos whose status write waits for the
// queue to drain, and since when.
type statusDeferrals struct {
	clock clock.PassiveClock
	mu    sync.Mutex
	since map[cache.ObjectName]time.Time
}

func newStatusDeferrals(c clock.PassiveClock) *statusDeferrals {
	return &statusDeferrals{clock: c, since: map[cache.ObjectName]time.Time{}}
}

// deferred reports whether key's status write should wait: this sync wrote a
// slice (or an earlier one did and the status still waits), other keys
// are queued, and it has not waited for maxStatusDeferral yet.
func (d *statusDeferrals) deferred(key cache.ObjectName, slicesWritten bool, queued int) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	since, waiting := d.since[key]
	switch {
	case !slicesWritten && !waiting:
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

func (d *statusDeferrals) forget(key cache.ObjectName) {
	d.mu.Lock()
	delete(d.since, key)
	d.mu.Unlock()
}
