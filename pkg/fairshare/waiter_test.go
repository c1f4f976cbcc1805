package fairshare

import (
	"context"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"
)

// waitReturns runs w.Wait in a goroutine and reports whether it returned
// within limit.
func waitReturns(ctx context.Context, w *Waiter, due time.Time, pending bool) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Wait(ctx, due, pending)
	}()
	return done
}

func TestWaiter(t *testing.T) {
	const limit = 5 * time.Second
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	t.Run("due in the past returns at once", func(t *testing.T) {
		clk := testingclock.NewFakeClock(start)
		w := NewWaiter(clk)
		select {
		case <-waitReturns(t.Context(), w, start.Add(-time.Second), true):
		case <-time.After(limit):
			t.Fatal("Wait did not return for an item already due")
		}
	})

	t.Run("due comes with the clock", func(t *testing.T) {
		clk := testingclock.NewFakeClock(start)
		w := NewWaiter(clk)
		done := waitReturns(t.Context(), w, start.Add(time.Minute), true)
		// Wait arms its timer before it blocks; step only once it has.
		deadline := time.Now().Add(limit)
		for !clk.HasWaiters() {
			if time.Now().After(deadline) {
				t.Fatal("Wait armed no timer")
			}
			time.Sleep(time.Millisecond)
		}
		select {
		case <-done:
			t.Fatal("Wait returned before the item was due")
		default:
		}
		clk.Step(time.Minute)
		select {
		case <-done:
		case <-time.After(limit):
			t.Fatal("Wait did not return once the item was due")
		}
	})

	t.Run("a nudge wakes it, even one sent before", func(t *testing.T) {
		clk := testingclock.NewFakeClock(start)
		w := NewWaiter(clk)
		w.Nudge()
		w.Nudge() // a second nudge never blocks
		select {
		case <-waitReturns(t.Context(), w, time.Time{}, false):
		case <-time.After(limit):
			t.Fatal("a pending nudge did not wake Wait")
		}
		done := waitReturns(t.Context(), w, time.Time{}, false)
		w.Nudge()
		select {
		case <-done:
		case <-time.After(limit):
			t.Fatal("Nudge did not wake Wait")
		}
	})

	t.Run("nothing pending waits for the context", func(t *testing.T) {
		clk := testingclock.NewFakeClock(start)
		w := NewWaiter(clk)
		ctx, cancel := context.WithCancel(t.Context())
		done := waitReturns(ctx, w, time.Time{}, false)
		clk.Step(time.Hour)
		select {
		case <-done:
			t.Fatal("Wait returned with nothing pending, no nudge and the context live")
		case <-time.After(50 * time.Millisecond):
		}
		cancel()
		select {
		case <-done:
		case <-time.After(limit):
			t.Fatal("Wait did not return when the context ended")
		}
	})
}
