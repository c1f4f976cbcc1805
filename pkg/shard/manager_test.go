package shard

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

const (
	testNamespace = "ns"
	testGroup     = "g"
	testDuration  = 15 * time.Second
	// renewDeadlineForTest is startTestManager's renew deadline.
	renewDeadlineForTest = 10 * time.Second
)

// otherLease is another member's Lease publishing view.
func otherLease(name string, v view, renewed time.Time) *coordinationv1.Lease {
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNamespace, Labels: map[string]string{GroupLabel: testGroup},
			Annotations: map[string]string{ViewAnnotation: v.encode()}},
		Spec: coordinationv1.LeaseSpec{LeaseDurationSeconds: ptr.To(int32(testDuration / time.Second)),
			RenewTime: ptr.To(metav1.NewMicroTime(renewed))},
	}
}

// startTestManager runs a member named g-me on a fake clientset (which
// does not generate names: a reactor does) and a fake clock.
func startTestManager(t *testing.T, client *fake.Clientset, clk *clocktesting.FakeClock) *Manager {
	t.Helper()
	m, cancel, done := runTestManager(t, client, clk, nil)
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return m
}

// runTestManager runs g-me with onLost; stopping it and judging what Run
// returned are the caller's.
func runTestManager(t *testing.T, client *fake.Clientset, clk *clocktesting.FakeClock, onLost func()) (*Manager, context.CancelFunc, <-chan error) {
	t.Helper()
	client.PrependReactor("create", "leases", func(action k8stesting.Action) (bool, runtime.Object, error) {
		l := action.(k8stesting.CreateAction).GetObject().(*coordinationv1.Lease)
		if l.Name == "" {
			l.Name = l.GenerateName + "me"
		}
		return false, nil, nil
	})
	m, err := NewManager(Options{Client: client, Namespace: testNamespace, Group: testGroup, Identity: "me",
		LeaseDuration: testDuration, RenewDeadline: renewDeadlineForTest, RetryPeriod: 2 * time.Second, Clock: clk, OnLost: onLost})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	awaitLeaseWatch(t, client)
	return m, cancel, done
}

// awaitLeaseWatch waits until the Manager's informer watches Leases. The
// fake clientset does not replay what was written between an informer's
// list and its watch (a real API server resumes from the list's
// resourceVersion), so a Lease a test writes before then never reaches
// the cache.
func awaitLeaseWatch(t *testing.T, client *fake.Clientset) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, a := range client.Actions() {
			if a.GetVerb() == "watch" && a.GetResource().Resource == "leases" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the manager's informer does not watch Leases")
		}
		time.Sleep(time.Millisecond)
	}
}

// waitAssignment steps the fake clock by a millisecond at a time (so
// the loop's timers fire) until cond holds of the assignment.
func waitAssignment(t *testing.T, m *Manager, clk *clocktesting.FakeClock, what string, cond func(*Assignment) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond(m.Assignment()) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; assignment %+v", what, m.Assignment())
		}
		clk.Step(time.Millisecond)
		time.Sleep(time.Millisecond)
	}
}

// advance moves the clock by d a second at a time, each time waiting for
// the loop to be idle again (its timer set): it renews every retry period
// on the way, as it would in real time.
func advance(t *testing.T, clk *clocktesting.FakeClock, d time.Duration) {
	t.Helper()
	for end := clk.Now().Add(d); clk.Now().Before(end); {
		clk.Step(time.Second)
		deadline := time.Now().Add(20 * time.Second)
		for !clk.HasWaiters() {
			if time.Now().After(deadline) {
				t.Fatalf("the loop did not set its timer again at %s", clk.Now())
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// owned counts the keys a owns, and those view v gives to g-me.
func owned(a *Assignment, keys []string, v view) (got, mine int) {
	for _, k := range keys {
		if a.Owns(k) {
			got++
		}
		if v.assigns(k, testGroup+"-me") {
			mine++
		}
	}
	return got, mine
}

// The fence: a newcomer starts no key that a live member's published
// view still gives to that member, however its own view hashes; it takes
// its share once that member publishes a view with it, and the rest once
// the member's Lease expired by its own clock, not before.
func TestNewcomerWaitsForReleaseOrExpiry(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	other := otherLease(testGroup+"-other", view{testGroup + "-other"}, clk.Now())
	client := fake.NewClientset(other)
	m := startTestManager(t, client, clk)
	both := view{testGroup + "-me", testGroup + "-other"}
	keys := testKeys(300)

	waitAssignment(t, m, clk, "a view of both members and the other's published view read", func(a *Assignment) bool {
		return a != nil && len(a.claims) == 1 && a.claims[0].equal(both) && a.others[testGroup+"-other"] != nil
	})
	if got, mine := owned(m.Assignment(), keys, both); got != 0 {
		t.Fatalf("owns %d keys (its view gives it %d) while the other member claims all", got, mine)
	}

	// The other member publishes the view with both: our share is ours.
	other.Annotations[ViewAnnotation] = both.encode()
	if _, err := client.CoordinationV1().Leases(testNamespace).Update(context.Background(), other, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitAssignment(t, m, clk, "our share after the other's release", func(a *Assignment) bool {
		got, mine := owned(a, keys, both)
		return got == mine && got > 0
	})
	if got, mine := owned(m.Assignment(), keys, both); got != mine || mine == len(keys) {
		t.Fatalf("owns %d keys, want its share %d of %d", got, mine, len(keys))
	}

	// The other member falls silent. A second short of its lease
	// duration (as we observed it) it still holds its share; just past,
	// we hold everything. The clock moves a second at a time (see
	// advance): a jump past our renew deadline would make us stop
	// (TestNoWorkPastRenewDeadline).
	advance(t, clk, testDuration-time.Second)
	if got, _ := owned(m.Assignment(), keys, both); got == len(keys) {
		t.Fatal("took the other member's share before its Lease expired")
	}
	waitAssignment(t, m, clk, "every key once the other's Lease expired", func(a *Assignment) bool {
		got, _ := owned(a, keys, both)
		return got == len(keys)
	})
}

// A replica whose renewals fail refuses every key from the moment its
// last successful renewal stops covering work (sent + renew deadline),
// not at the loop's next step: with renewals failing every retry period
// that step may come up to a retry period later (or, with a renewal that
// hangs, a whole renew deadline later), past the lease duration after
// which the others take the share.
func TestNoWorkPastRenewDeadline(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	client := fake.NewClientset()
	var failing atomic.Bool
	var failures atomic.Int32
	client.PrependReactor("update", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		if !failing.Load() {
			return false, nil, nil
		}
		failures.Add(1)
		return true, nil, errors.New("the API server is unreachable")
	})
	m := startTestManager(t, client, clk)
	keys := testKeys(50)
	waitAssignment(t, m, clk, "every key, alone", func(a *Assignment) bool {
		got, _ := owned(a, keys, nil)
		return got == len(keys)
	})
	l, err := client.CoordinationV1().Leases(testNamespace).Get(context.Background(), testGroup+"-me", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lastRenewal := l.Spec.RenewTime.Time
	failing.Store(true)

	// The last step before the deadline fails to renew and sleeps a
	// retry period.
	clk.SetTime(lastRenewal.Add(renewDeadlineForTest - 100*time.Millisecond))
	deadline := time.Now().Add(20 * time.Second)
	for failures.Load() == 0 || !clk.HasWaiters() {
		if time.Now().After(deadline) {
			t.Fatal("no failed renewal")
		}
		time.Sleep(time.Millisecond)
	}
	_, end, ok := m.Begin(keys[0])
	if !ok {
		t.Fatal("refused a key while the last renewal still covers work")
	}
	end()
	// Past the deadline, before the next step.
	clk.SetTime(lastRenewal.Add(renewDeadlineForTest + time.Second))
	if _, end, ok := m.Begin(keys[0]); ok {
		end()
		t.Fatalf("began a key %s after the last renewal, past the renew deadline (%s)", time.Second+renewDeadlineForTest, renewDeadlineForTest)
	}
}

// The deadline Begin gives a key is the last successful renewal plus the
// renew deadline: it moves with each renewal, and never past that, however
// late the key begins and whether or not a renewal is on its way. A sync
// bounded by it has sent its last request before the others may count our
// Lease expired (the lease duration after that renewal).
func TestBeginGivesTheRenewalsDeadline(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	client := fake.NewClientset()
	var failing atomic.Bool
	var failures atomic.Int32
	client.PrependReactor("update", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		if !failing.Load() {
			return false, nil, nil
		}
		failures.Add(1)
		return true, nil, errors.New("the API server is unreachable")
	})
	m := startTestManager(t, client, clk)
	keys := testKeys(50)
	waitAssignment(t, m, clk, "every key, alone", func(a *Assignment) bool {
		got, _ := owned(a, keys, nil)
		return got == len(keys)
	})
	lastRenewal := func() time.Time {
		t.Helper()
		l, err := client.CoordinationV1().Leases(testNamespace).Get(context.Background(), testGroup+"-me", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return l.Spec.RenewTime.Time
	}
	expect := func(when string, renewal time.Time) {
		t.Helper()
		until, end, ok := m.Begin(keys[0])
		if !ok {
			t.Fatalf("%s: refused a key while the last renewal still covers work", when)
		}
		end()
		if want := renewal.Add(renewDeadlineForTest); !until.Equal(want) {
			t.Errorf("%s: deadline %s after the last renewal, want the renew deadline (%s)", when, until.Sub(renewal), renewDeadlineForTest)
		}
		if !until.Before(renewal.Add(testDuration)) {
			t.Errorf("%s: deadline %s is not before the others may count the Lease expired (%s)", when, until, renewal.Add(testDuration))
		}
	}

	first := lastRenewal()
	expect("right after joining", first)

	// Renewals every retry period carry the deadline along. advance
	// returns with the loop idle, so the renewal the Lease shows is the
	// one the loop recorded.
	renewed := first
	for i := 0; !renewed.After(first); i++ {
		if i == int(renewDeadlineForTest/time.Second) {
			t.Fatalf("no renewal within %s", renewDeadlineForTest)
		}
		advance(t, clk, time.Second)
		renewed = lastRenewal()
	}
	expect("after a renewal", renewed)

	// Renewals fail: a key that begins just short of the deadline gets
	// what is left of it, not a fresh renew deadline.
	failing.Store(true)
	for clk.Now().Add(time.Second).Before(renewed.Add(renewDeadlineForTest)) {
		advance(t, clk, time.Second)
	}
	if failures.Load() == 0 {
		t.Fatalf("no renewal attempted in the %s after the last one", clk.Now().Sub(renewed))
	}
	expect("while renewals fail", renewed)
}

// A leader-elected replica of the same group (a Deployment rolling from
// --leader-elect to --sharding, or back) works on every key without
// knowing the members: while it holds the group's leader-election Lease
// no member works on any key; once it released it, the members do.
func TestNoWorkWhileALeaderLeads(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	leader := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: testGroup, Namespace: testNamespace},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("old-leader"),
			LeaseDurationSeconds: ptr.To(int32(testDuration / time.Second)), RenewTime: ptr.To(metav1.NewMicroTime(clk.Now()))},
	}
	client := fake.NewClientset(leader)
	m := startTestManager(t, client, clk)
	keys := testKeys(50)
	waitAssignment(t, m, clk, "an assignment by our own view", func(a *Assignment) bool {
		return a != nil && len(a.claims) == 1
	})
	if got, _ := owned(m.Assignment(), keys, nil); got != 0 {
		t.Fatalf("owns %d keys while a leader-elected replica holds the group's Lease", got)
	}

	// client-go's release empties the holder.
	leader.Spec.HolderIdentity = ptr.To("")
	leader.Spec.LeaseDurationSeconds = ptr.To(int32(1))
	if _, err := client.CoordinationV1().Leases(testNamespace).Update(context.Background(), leader, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitAssignment(t, m, clk, "every key once the leader released its Lease", func(a *Assignment) bool {
		got, _ := owned(a, keys, nil)
		return got == len(keys)
	})
}

// The others judge a member by the duration in its Lease, so it must not
// be rounded below the renew deadline the member stops by.
func TestLeaseDurationRoundsUp(t *testing.T) {
	client := fake.NewClientset()
	client.PrependReactor("create", "leases", func(action k8stesting.Action) (bool, runtime.Object, error) {
		l := action.(k8stesting.CreateAction).GetObject().(*coordinationv1.Lease)
		l.Name = l.GenerateName + "me"
		return false, nil, nil
	})
	opts := Options{Client: client, Namespace: testNamespace, Group: testGroup, Identity: "me",
		LeaseDuration: 1400 * time.Millisecond, RenewDeadline: 1200 * time.Millisecond, RetryPeriod: 500 * time.Millisecond}
	m, err := NewManager(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		l, err := client.CoordinationV1().Leases(testNamespace).Get(ctx, testGroup+"-me", metav1.GetOptions{})
		if err == nil {
			if got := time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second; got < opts.LeaseDuration {
				t.Fatalf("the Lease says %s, below the lease duration %s (renew deadline %s)", got, opts.LeaseDuration, opts.RenewDeadline)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A change of view waits for the syncs in flight on the keys it takes
// away before it publishes, and a graceful leave waits for all of them;
// nobody renews meanwhile. A sync that outlasts the renew deadline must
// end the process (OnLost) there, before the others may count it dead
// and take its keys while the sync still writes.
func TestLostWhenASyncOutlastsTheRenewDeadline(t *testing.T) {
	for _, leaving := range []bool{false, true} {
		name := "change of view"
		if leaving {
			name = "graceful leave"
		}
		t.Run(name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(time.Now())
			client := fake.NewClientset()
			lost := make(chan struct{})
			m, cancel, done := runTestManager(t, client, clk, func() { close(lost) })
			keys := testKeys(50)
			waitAssignment(t, m, clk, "every key, alone", func(a *Assignment) bool {
				got, _ := owned(a, keys, nil)
				return got == len(keys)
			})
			both := view{testGroup + "-me", testGroup + "-other"}
			moving := keyOwnedBy(t, both, testGroup+"-other")
			_, end, ok := m.Begin(moving)
			if !ok {
				t.Fatal("refused a key it owns")
			}

			if leaving {
				cancel()
			} else if _, err := client.CoordinationV1().Leases(testNamespace).Create(context.Background(),
				otherLease(testGroup+"-other", view{testGroup + "-other"}, clk.Now()), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			// The key is taken away (the gate now waits for its
			// sync): by our new view, or, when the step's cache did not
			// have the newcomer yet, by the newcomer's published view
			// alone.
			waitAssignment(t, m, clk, "the wait for the sync in flight", func(a *Assignment) bool {
				return a != nil && !a.Owns(moving)
			})
			l, err := client.CoordinationV1().Leases(testNamespace).Get(context.Background(), testGroup+"-me", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			clk.SetTime(l.Spec.RenewTime.Add(renewDeadlineForTest + time.Second))
			select {
			case <-lost:
			case <-time.After(10 * time.Second):
				t.Error("still running a sync past the renew deadline without having called OnLost")
			}
			end()
			cancel()
			<-done
		})
	}
}

// A member's liveness follows the consistent list, not a cache that lags
// behind it: with the informer's watch stalled (the cache keeps an older
// resourceVersion of a Lease than the list), a member that fell silent
// still expires one lease duration after the list last saw it change.
// Judging by both, each step saw the version change twice and the dead
// member stayed live, its share unprobed, for as long as the watch stalled.
func TestDeadMemberExpiresWhileTheCacheLags(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	other := otherLease(testGroup+"-other", view{testGroup + "-other"}, clk.Now())
	other.ResourceVersion = "1"
	client := fake.NewClientset(other)
	// The watch never delivers: the cache keeps version 1.
	client.PrependWatchReactor("leases", func(k8stesting.Action) (bool, watch.Interface, error) {
		return true, watch.NewFake(), nil
	})
	m := startTestManager(t, client, clk)
	keys := testKeys(50)
	waitAssignment(t, m, clk, "the other's published view read", func(a *Assignment) bool {
		return a != nil && len(a.claims) == 1 && a.others[testGroup+"-other"] != nil
	})
	// The other renews once (only the list sees it), then falls silent.
	other.ResourceVersion = "2"
	if _, err := client.CoordinationV1().Leases(testNamespace).Update(context.Background(), other, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A retry period past the other's expiry: a step sees the renewal
	// at most a retry period late.
	advance(t, clk, testDuration+2*time.Second)
	waitAssignment(t, m, clk, "every key once the other's Lease expired", func(a *Assignment) bool {
		got, _ := owned(a, keys, nil)
		return got == len(keys)
	})
}

// A renewal the API server committed but whose answer was lost (a
// timeout) leaves our copy of the Lease a version behind. Every later
// renewal then conflicted, and one lost answer cost the replica its
// membership (and the process) a renew deadline later.
func TestRenewalAfterALostAnswer(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	client := fake.NewClientset()
	// The fake tracker keeps no resourceVersions: this reactor keeps
	// them for our Lease, as the API server does, and can lose the
	// answer to one committed update.
	var loseAnswer atomic.Bool
	var version atomic.Int64
	gvr := coordinationv1.SchemeGroupVersion.WithResource("leases")
	client.PrependReactor("update", "leases", func(action k8stesting.Action) (bool, runtime.Object, error) {
		l := action.(k8stesting.UpdateAction).GetObject().(*coordinationv1.Lease).DeepCopy()
		current, err := client.Tracker().Get(gvr, testNamespace, l.Name)
		if err != nil {
			return true, nil, err
		}
		if current.(*coordinationv1.Lease).ResourceVersion != l.ResourceVersion {
			return true, nil, apierrors.NewConflict(gvr.GroupResource(), l.Name, errors.New("the object has been modified"))
		}
		l.ResourceVersion = strconv.FormatInt(version.Add(1), 10)
		if err := client.Tracker().Update(gvr, l, testNamespace); err != nil {
			return true, nil, err
		}
		if loseAnswer.CompareAndSwap(true, false) {
			return true, nil, apierrors.NewTimeoutError("the answer was lost", 1)
		}
		return true, l, nil
	})
	lost := make(chan struct{})
	m, cancel, done := runTestManager(t, client, clk, func() { close(lost) })
	keys := testKeys(50)
	waitAssignment(t, m, clk, "every key, alone", func(a *Assignment) bool {
		got, _ := owned(a, keys, nil)
		return got == len(keys)
	})
	loseAnswer.Store(true)
	// Two renew deadlines, a second at a time, each step once the loop is
	// idle (its timer and the watchdog's set). Without the re-read after a
	// conflict no renewal succeeds after the lost answer, and the watchdog
	// declares the membership lost a renew deadline after the last one.
	// (The test does not hold renewals to the retry period: the
	// informer's event of our own renewal may reach the loop a step late
	// and set its timer from then.)
	start := clk.Now()
	idle := func() {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for clk.Waiters() < 2 {
			select {
			case <-lost:
				t.Fatalf("lost the membership %s after one lost answer to a renewal", clk.Since(start))
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("the manager did not set its timers again at %s", clk.Now())
			}
			time.Sleep(time.Millisecond)
		}
	}
	for clk.Since(start) < 2*renewDeadlineForTest {
		idle()
		clk.Step(time.Second)
	}
	idle()
	l, err := client.CoordinationV1().Leases(testNamespace).Get(context.Background(), testGroup+"-me", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if renewed := l.Spec.RenewTime.Time; !renewed.After(start.Add(renewDeadlineForTest)) {
		t.Errorf("last renewal %s after the lost answer, want later than the renew deadline (%s)", renewed.Sub(start), renewDeadlineForTest)
	}
	select {
	case <-lost:
		t.Fatal("lost the membership after one lost answer to a renewal")
	default:
	}
	if got, _ := owned(m.Assignment(), keys, nil); got != len(keys) {
		t.Fatalf("owns %d of %d keys", got, len(keys))
	}
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
}
