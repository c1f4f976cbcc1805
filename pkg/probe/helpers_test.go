package probe

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/tools/cache"

	"github.com/crddemo/crddemo/pkg/probe/internal/probetest"
)

func objKey(name string) cache.ObjectName {
	return cache.ObjectName{Namespace: "ns", Name: name}
}

// run starts p.Run and stops it (waiting for it to return) when the test
// ends. It returns a function that stops it earlier.
func run(t testing.TB, p *Prober) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Run(ctx)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(probetest.WaitLimit):
				t.Errorf("Run did not return within %v of cancellation", probetest.WaitLimit)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// transitions records OnTransition calls.
type transitions struct {
	mu     sync.Mutex
	counts map[cache.ObjectName]int
}

func newTransitions() *transitions {
	return &transitions{counts: map[cache.ObjectName]int{}}
}

func (tr *transitions) record(key cache.ObjectName) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.counts[key]++
}

func (tr *transitions) count(key cache.ObjectName) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.counts[key]
}

// dialCounter wraps a dialer and counts dials per address.
type dialCounter struct {
	mu     sync.Mutex
	counts map[string]int
	next   func(ctx context.Context, network, address string) (net.Conn, error)
}

func newDialCounter(next func(ctx context.Context, network, address string) (net.Conn, error)) *dialCounter {
	if next == nil {
		next = (&net.Dialer{}).DialContext
	}
	return &dialCounter{counts: map[string]int{}, next: next}
}

func (d *dialCounter) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	d.mu.Lock()
	d.counts[address]++
	d.mu.Unlock()
	return d.next(ctx, network, address)
}

func (d *dialCounter) count(address string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.counts[address]
}

// waitDials waits until address has been dialed n more times than now,
// which is also a way to let several periods pass without sleeping.
func (d *dialCounter) waitDials(t testing.TB, address string, n int) {
	t.Helper()
	target := d.count(address) + n
	probetest.Eventually(t, "dials to "+address, func() bool { return d.count(address) >= target })
}

// nopConn is the connection returned by fake dialers; a TCP check only
// sets its deadline and closes it.
type nopConn struct{ net.Conn }

func (*nopConn) Close() error                     { return nil }
func (*nopConn) SetDeadline(time.Time) error      { return nil }
func (*nopConn) SetReadDeadline(time.Time) error  { return nil }
func (*nopConn) SetWriteDeadline(time.Time) error { return nil }

func zeroJitter(time.Duration) time.Duration { return 0 }
