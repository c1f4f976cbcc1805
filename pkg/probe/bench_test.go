package probe

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"
)

// BenchmarkSchedule10k measures the cost of the scheduling machinery for
// 10,000 keys: one iteration is one full round in which every key is
// probed once. The dialer succeeds at once without touching the network,
// and a fake clock jumps from round to round, so what is measured is the
// heap, the hand-off to the workers, the locking and the bookkeeping.
func BenchmarkSchedule10k(b *testing.B) {
	const (
		keys        = 10000
		concurrency = 100
		period      = 10 * time.Second
		// Beyond the workers: Run's own goroutine, plus slack for the
		// runtime and the testing package.
		goroutineSlack = 5
	)

	baseline := runtime.NumGoroutine()
	fc := testingclock.NewFakeClock(epoch)
	conn := &nopConn{}
	var done, want atomic.Int64
	roundDone := make(chan struct{}, 1)
	p := New(Options{
		Concurrency: concurrency,
		Clock:       fc,
		// Exact periods, so that one step of the clock is one round.
		PeriodJitter: func(time.Duration) time.Duration { return 0 },
		Dial: func(context.Context, string, string) (net.Conn, error) {
			return conn, nil
		},
		Observe: func(string, time.Duration) {
			if done.Add(1) == want.Load() {
				roundDone <- struct{}{}
			}
		},
	})
	for i := range keys {
		p.Sync(objKey(fmt.Sprintf("mydemo-%05d", i)), []Target{{
			Address:          fmt.Sprintf("127.0.0.1:%d", 1+i%65535),
			Period:           period,
			Timeout:          time.Second,
			SuccessThreshold: 1,
			FailureThreshold: 3,
		}})
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		p.Run(ctx)
	}()
	defer func() {
		cancel()
		<-stopped
	}()

	// Every key's first probe is jittered within one period, and every
	// later one is exactly a period after the previous, so stepping by a
	// period makes all keys due once.
	round := func() {
		want.Store(done.Load() + keys)
		fc.Step(period)
		select {
		case <-roundDone:
		case <-time.After(time.Minute):
			b.Fatalf("round stalled: %d of %d probes done", done.Load(), want.Load())
		}
	}
	checkGoroutines := func() {
		if g := runtime.NumGoroutine(); g > baseline+concurrency+goroutineSlack {
			b.Fatalf("%d goroutines for %d keys (started with %d): the prober must not grow with the number of keys",
				g, keys, baseline)
		}
	}

	round() // warm up: first probes, heap settled
	checkGoroutines()

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for range b.N {
		round()
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	checkGoroutines()

	probes := float64(b.N) * keys
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/probes, "ns/probe")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/probes, "allocs/probe")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/probes, "B/probe")
	b.ReportMetric(float64(runtime.NumGoroutine()-baseline), "goroutines")
}
