package shard

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	coordinationlisters "k8s.io/client-go/listers/coordination/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
)

const (
	// GroupLabel marks the member Leases of one group of replicas; its
	// value is the group's name (--leader-elect-resource-name).
	GroupLabel = "crddemo.k8s.io/shard-group"
	// ViewAnnotation is the view a member works by: the member Leases it
	// counts as live, comma-separated. A member works only on keys its
	// published view gives it, so the others can tell what it may touch.
	ViewAnnotation = "crddemo.k8s.io/shard-view"
)

// ErrLost is returned by Run when the replica could not renew its Lease
// within the renew deadline: the others may take its share at any moment.
var ErrLost = errors.New("could not renew the shard membership Lease within the renew deadline")

// Options configure a Manager. The durations mean what the leader-election
// flags say: a member whose Lease was not renewed for LeaseDuration is
// dead to the others; a member that could not renew for RenewDeadline
// stops working; renewals (and the membership check) run every
// RetryPeriod.
type Options struct {
	Client    kubernetes.Interface
	Namespace string
	// Group names the replicas that share the work; their Leases are
	// named after it.
	Group string
	// Identity is the holder recorded in the Lease, for humans (the
	// hostname).
	Identity      string
	LeaseDuration time.Duration
	RenewDeadline time.Duration
	RetryPeriod   time.Duration
	// OnChange is called, one call at a time, each time the assignment
	// changes, once no work runs on a key next no longer owns.
	OnChange func(previous, next *Assignment)
	// OnLost, if set, is called at once when the Lease could not be
	// renewed in time (the binary exits, as a leader that lost its Lease
	// does).
	OnLost func()
	// Clock defaults to the real clock.
	Clock clock.Clock
}

// Manager keeps this replica's membership Lease and the assignment of keys.
type Manager struct {
	opts   Options
	gate   *gate
	lister coordinationlisters.LeaseNamespaceLister
	// factory holds the Lease informer, filtered to the group.
	factory informers.SharedInformerFactory
	// poke wakes the loop when another member's Lease changes.
	poke chan struct{}
	// validUntil is when our last successful renewal stops covering work:
	// the time it was sent plus the renew deadline. Begin refuses every key
	// from then on, whatever the loop is doing (blocked on a request, or
	// the process just resumed from a pause), so that no sync starts once
	// the others may count us dead. A pointer keeps the monotonic reading.
	validUntil atomic.Pointer[time.Time]
	// lostOnce calls OnLost once, from the loop or the watchdog.
	lostOnce sync.Once
}

// NewManager builds a Manager; Run starts it.
func NewManager(opts Options) (*Manager, error) {
	switch {
	case opts.Client == nil || opts.Namespace == "" || opts.Group == "":
		return nil, errors.New("shard: a client, a namespace and a group are required")
	case opts.RetryPeriod <= 0 || opts.RenewDeadline <= opts.RetryPeriod || opts.LeaseDuration <= opts.RenewDeadline:
		return nil, fmt.Errorf("shard: need 0 < retry period (%s) < renew deadline (%s) < lease duration (%s)",
			opts.RetryPeriod, opts.RenewDeadline, opts.LeaseDuration)
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.OnChange == nil {
		opts.OnChange = func(*Assignment, *Assignment) {}
	}
	factory := informers.NewSharedInformerFactoryWithOptions(opts.Client, 0, informers.WithNamespace(opts.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = groupSelector(opts.Group).String() }))
	leases := factory.Coordination().V1().Leases()
	m := &Manager{opts: opts, gate: newGate(), lister: leases.Lister().Leases(opts.Namespace), factory: factory, poke: make(chan struct{}, 1)}
	if _, err := leases.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { m.wake() },
		UpdateFunc: func(any, any) { m.wake() },
		DeleteFunc: func(any) { m.wake() },
	}); err != nil {
		return nil, fmt.Errorf("watching member Leases: %w", err)
	}
	return m, nil
}

// groupSelector selects the member Leases of group.
func groupSelector(group string) labels.Selector {
	return labels.SelectorFromSet(labels.Set{GroupLabel: group})
}

func (m *Manager) wake() {
	select {
	case m.poke <- struct{}{}:
	default:
	}
}

// Begin reports whether work on key may start now. When it may, end must
// be called once the work is over: a change of assignment that takes the
// key away waits for it. This is the fence: no two replicas are ever
// between Begin and end for the same key.
func (m *Manager) Begin(key string) (end func(), ok bool) {
	if !m.valid(m.opts.Clock.Now()) {
		return nil, false
	}
	return m.gate.begin(key)
}

// valid reports whether our last renewal still covers work at now.
func (m *Manager) valid(now time.Time) bool {
	until := m.validUntil.Load()
	return until != nil && now.Before(*until)
}

// renewed records a successful renewal sent at sent.
func (m *Manager) renewed(sent time.Time) {
	until := sent.Add(m.opts.RenewDeadline)
	m.validUntil.Store(&until)
}

// Assignment is the current assignment (nil before the first one).
func (m *Manager) Assignment() *Assignment {
	return m.gate.assignment()
}

// observation is when this replica last saw a member's Lease change. A
// Lease is live while it changed less than its duration ago by this
// replica's clock, as leader election judges a leader: comparing the
// holder's renewTime with our clock would trust two clocks to agree.
type observation struct {
	resourceVersion string
	seenAt          time.Time
	duration        time.Duration
}

// member is the loop's state; only Run's goroutine touches it.
type member struct {
	*Manager
	lease     *coordinationv1.Lease
	lastRenew time.Time
	observed  map[string]observation
	// published is the view in our Lease; others the views of the live
	// members as the last consistent list read them.
	published view
	others    map[string]view
	// leaderHolder holds the group's leader-election Lease, if anyone
	// does (see leader).
	leaderHolder string
}

// Run joins the group, keeps the Lease renewed and the assignment current
// until ctx is cancelled; then it stops all work (waiting for what is in
// progress) and deletes its Lease so that the others take over at once.
// It returns ErrLost if the Lease could not be renewed in time.
func (m *Manager) Run(ctx context.Context) error {
	logger := klog.FromContext(ctx)
	now := m.opts.Clock.Now()
	// The first Lease claims nothing (an empty view): a newcomer that
	// does not know the others yet must not make them drop their keys.
	lease, err := m.opts.Client.CoordinationV1().Leases(m.opts.Namespace).Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: m.opts.Group + "-",
			Labels:       map[string]string{GroupLabel: m.opts.Group},
		},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity: ptr.To(m.opts.Identity),
			// The others judge us by this number, so it rounds up: a
			// duration rounded down could fall below our renew
			// deadline, and they would take our share while we work.
			LeaseDurationSeconds: ptr.To(int32((m.opts.LeaseDuration + time.Second - 1) / time.Second)),
			AcquireTime:          ptr.To(metav1.NewMicroTime(now)),
			RenewTime:            ptr.To(metav1.NewMicroTime(now)),
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("creating the shard membership Lease: %w", err)
	}
	m.renewed(now)
	logger.Info("Joined the shard group", "lease", klog.KObj(lease), "identity", m.opts.Identity)
	if m.opts.OnLost != nil {
		// Deferred before leave, so it watches leave's wait for the
		// syncs in flight too.
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() { m.watchdog(ctx, stop) })
		defer func() {
			close(stop)
			wg.Wait()
		}()
	}
	s := &member{Manager: m, lease: lease, lastRenew: now, observed: map[string]observation{}}
	defer s.leave(ctx)

	m.factory.Start(ctx.Done())
	defer m.factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), m.factory.Coordination().V1().Leases().Informer().HasSynced) {
		return nil
	}
	timer := m.opts.Clock.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-m.poke:
		case <-timer.C():
		}
		next, err := s.step(ctx)
		if errors.Is(err, ErrLost) {
			return err
		}
		if err != nil && ctx.Err() == nil {
			logger.Error(err, "Shard membership step failed; retrying")
		}
		timer.Stop()
		timer = m.opts.Clock.NewTimer(next)
	}
}

// watchdog calls OnLost once our last renewal stops covering work, until
// stop is closed. The loop notices that too, but only between two steps,
// and a step can wait for a long time: the change of view waits for the
// syncs in flight on the keys it takes away, and so does a graceful
// leave, after which nobody renews. Ending the process ends those syncs
// before the others may count us dead, as a leader that cannot renew does.
func (m *Manager) watchdog(ctx context.Context, stop <-chan struct{}) {
	for {
		now := m.opts.Clock.Now()
		if !m.valid(now) {
			klog.FromContext(ctx).Error(ErrLost, "No renewal within the renew deadline while syncs may still run")
			m.signalLost()
			return
		}
		t := m.opts.Clock.NewTimer(m.validUntil.Load().Sub(now))
		select {
		case <-stop:
			t.Stop()
			return
		case <-t.C():
		}
	}
}

// signalLost calls OnLost, once.
func (m *Manager) signalLost() {
	if m.opts.OnLost != nil {
		m.lostOnce.Do(m.opts.OnLost)
	}
}

// step brings the Lease and the assignment up to date once and returns
// when it wants to run again: the retry period, or sooner when a member's
// Lease is due to expire.
//
// The order is the protocol (docs/architecture.md, "Sharding"):
//  1. the live members make a view;
//  2. if it differs from the published one, stop the keys it takes away
//     (the gate waits for their work) before anything else;
//  3. publish it in our Lease (also the renewal);
//  4. read every member's Lease with a consistent list, after our write;
//  5. only then start the keys the view gives us and no live member's
//     published view claims.
//
// Two replicas that both want a key each publish before they read: the
// later of the two writes is read by the other's list, so at most one of
// them starts it.
func (s *member) step(ctx context.Context) (time.Duration, error) {
	now := s.opts.Clock.Now()
	if !s.valid(now) {
		// Too late to renew: Begin already refuses, and the others may
		// count us dead any moment now.
		return 0, s.lost(ctx, fmt.Errorf("no renewal for the renew deadline (%s)", s.opts.RenewDeadline))
	}
	// The informer lists and watches by the label already; selecting
	// again keeps any other Lease (the group's leader-election Lease in
	// particular) out of the members whatever reached the cache.
	cached, err := s.lister.List(groupSelector(s.opts.Group))
	if err != nil {
		return s.opts.RetryPeriod, fmt.Errorf("listing member Leases: %w", err)
	}
	live := []string{s.lease.Name}
	for _, l := range cached {
		if l.Name != s.lease.Name && s.seenLive(l, now) {
			live = append(live, l.Name)
		}
	}
	v := newView(live)

	if !v.equal(s.published) {
		s.install(ctx, []view{s.published, v})
		// The install waited for syncs in flight; a renewal now
		// would come too late to cover them.
		if now = s.opts.Clock.Now(); !s.valid(now) {
			return 0, s.lost(ctx, fmt.Errorf("waiting for the syncs of the keys a new view takes away outlasted the renew deadline (%s)", s.opts.RenewDeadline))
		}
	}
	if !v.equal(s.published) || now.Sub(s.lastRenew) >= s.opts.RetryPeriod {
		if err := s.renew(ctx, v, now); err != nil {
			// The clock is read again: the request itself may have
			// taken up to the rest of the renew deadline.
			if !s.valid(s.opts.Clock.Now()) {
				return 0, s.lost(ctx, err)
			}
			return s.opts.RetryPeriod, err
		}
	}

	list, err := s.opts.Client.CoordinationV1().Leases(s.opts.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: groupSelector(s.opts.Group).String(),
	})
	if err != nil {
		return s.opts.RetryPeriod, fmt.Errorf("reading member Leases: %w", err)
	}
	others := map[string]view{}
	wait := s.opts.RetryPeriod
	for i := range list.Items {
		l := &list.Items[i]
		if l.Name == s.lease.Name {
			continue
		}
		if !s.observe(l, now) {
			s.collect(ctx, l, now)
			continue
		}
		others[l.Name] = parseView(l.Annotations[ViewAnnotation])
		o := s.observed[l.Name]
		// Wake just after it would expire, to take over its share on
		// time rather than up to a retry period late.
		if d := o.seenAt.Add(o.duration).Sub(now) + time.Millisecond; d < wait {
			wait = d
		}
	}
	leader, expires, err := s.leader(ctx, now)
	if err != nil {
		return s.opts.RetryPeriod, err
	}
	if leader != "" && expires < wait {
		wait = expires
	}
	s.others, s.leaderHolder = others, leader
	s.install(ctx, []view{v})
	return wait, nil
}

// leader returns the holder of the group's leader-election Lease (the
// Lease --leader-elect takes, named after the group) while it is held and
// live, and how long until it expires unless renewed; "" when nobody
// holds it. During a rollout between the two modes a leader-elected
// replica works on every key and knows nothing of the members, so while
// it leads no member may work on any key.
func (s *member) leader(ctx context.Context, now time.Time) (holder string, expires time.Duration, err error) {
	list, err := s.opts.Client.CoordinationV1().Leases(s.opts.Namespace).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("metadata.name", s.opts.Group).String(),
	})
	if err != nil {
		return "", 0, fmt.Errorf("reading the leader-election Lease: %w", err)
	}
	for i := range list.Items {
		l := &list.Items[i]
		// A released Lease has no holder (client-go empties it).
		if l.Name != s.opts.Group || ptr.Deref(l.Spec.HolderIdentity, "") == "" || !s.observe(l, now) {
			continue
		}
		o := s.observed[l.Name]
		return *l.Spec.HolderIdentity, o.seenAt.Add(o.duration).Sub(now) + time.Millisecond, nil
	}
	return "", 0, nil
}

// seenLive reports whether l, as the cache holds it, is live at now. A
// Lease the consistent list has read is judged by that reading only: the
// cache may lag behind it, and recording the cache's older version would
// count as a change each step, keeping a dead member live for as long as
// the cache lags. A Lease only the cache has is recorded as seen.
func (s *member) seenLive(l *coordinationv1.Lease, now time.Time) bool {
	o, ok := s.observed[l.Name]
	if !ok {
		return s.observe(l, now)
	}
	return l.DeletionTimestamp == nil && now.Sub(o.seenAt) < o.duration
}

// observe records l and reports whether it is live at now.
func (s *member) observe(l *coordinationv1.Lease, now time.Time) bool {
	if l.DeletionTimestamp != nil {
		return false
	}
	o, ok := s.observed[l.Name]
	if !ok || o.resourceVersion != l.ResourceVersion {
		o = observation{resourceVersion: l.ResourceVersion, seenAt: now, duration: s.opts.LeaseDuration}
		if l.Spec.LeaseDurationSeconds != nil && *l.Spec.LeaseDurationSeconds > 0 {
			o.duration = time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
		}
		s.observed[l.Name] = o
	}
	return now.Sub(o.seenAt) < o.duration
}

// collect deletes the Lease of a member that died without leaving, once
// it has been dead for another lease duration, so that restarts do not
// pile Leases up. The precondition keeps a Lease renewed in the meantime.
func (s *member) collect(ctx context.Context, l *coordinationv1.Lease, now time.Time) {
	o := s.observed[l.Name]
	if now.Sub(o.seenAt) < 2*o.duration {
		return
	}
	err := s.opts.Client.CoordinationV1().Leases(s.opts.Namespace).Delete(ctx, l.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &l.UID, ResourceVersion: &l.ResourceVersion},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		klog.FromContext(ctx).Error(err, "Deleting the Lease of a dead member", "lease", klog.KObj(l))
		return
	}
	delete(s.observed, l.Name)
}

// renew writes v and the renewal time into our Lease.
func (s *member) renew(ctx context.Context, v view, now time.Time) error {
	// A renewal still stuck when the last one stops covering work is as
	// good as failed.
	ctx, cancel := context.WithTimeout(ctx, (*s.validUntil.Load()).Sub(now))
	defer cancel()
	update := func() (*coordinationv1.Lease, error) {
		l := s.lease.DeepCopy()
		if l.Annotations == nil {
			l.Annotations = map[string]string{}
		}
		l.Annotations[ViewAnnotation] = v.encode()
		l.Spec.RenewTime = ptr.To(metav1.NewMicroTime(now))
		return s.opts.Client.CoordinationV1().Leases(s.opts.Namespace).Update(ctx, l, metav1.UpdateOptions{})
	}
	updated, err := update()
	if apierrors.IsConflict(err) && s.reread(ctx) {
		updated, err = update()
	}
	if err != nil {
		return fmt.Errorf("renewing the shard membership Lease: %w", err)
	}
	s.lease, s.lastRenew = updated, now
	s.renewed(now)
	if !v.equal(s.published) {
		klog.FromContext(ctx).Info("Published a new shard view", "members", len(v))
	}
	s.published = v
	return nil
}

// reread brings our copy of our Lease up to date after a conflict: a
// renewal the API server committed but whose answer was lost, or someone
// else's write. The view the Lease now publishes is what the others go
// by, so it joins the claims the gate holds until we publish ours again.
// It reports whether the Lease is still ours to renew.
func (s *member) reread(ctx context.Context) bool {
	list, err := s.opts.Client.CoordinationV1().Leases(s.opts.Namespace).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("metadata.name", s.lease.Name).String(),
	})
	if err != nil {
		klog.FromContext(ctx).Error(err, "Reading our shard membership Lease after a conflict", "lease", klog.KObj(s.lease))
		return false
	}
	for i := range list.Items {
		l := &list.Items[i]
		if l.Name != s.lease.Name || l.UID != s.lease.UID {
			continue
		}
		published := parseView(l.Annotations[ViewAnnotation])
		// With no claims we own nothing, and a claim added alone
		// would own keys before the others' views were read.
		if a := s.gate.assignment(); a != nil && len(a.claims) > 0 {
			s.install(ctx, append(slices.Clone(a.claims), published))
		}
		s.lease, s.published = l, published
		return true
	}
	return false
}

// install moves the gate to claims (and the others' last read views) and
// tells OnChange.
func (s *member) install(ctx context.Context, claims []view) {
	next := &Assignment{self: s.lease.Name, claims: claims, others: s.others, leader: s.leaderHolder}
	if next.equal(s.gate.assignment()) {
		return
	}
	previous := s.gate.set(next)
	klog.FromContext(ctx).V(4).Info("Shard assignment", "claims", len(claims), "others", len(s.others))
	s.opts.OnChange(previous, next)
}

// lost stops all work after a failed renewal.
func (s *member) lost(ctx context.Context, err error) error {
	klog.FromContext(ctx).Error(err, "Lost the shard membership Lease; stopping all work", "lease", klog.KObj(s.lease))
	s.signalLost()
	s.install(ctx, nil)
	return ErrLost
}

// leave stops all work, waits for the work in progress, and deletes our
// Lease: the others take our share at their next step instead of after
// the lease duration.
func (s *member) leave(ctx context.Context) {
	logger := klog.FromContext(ctx)
	s.install(ctx, nil)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.RenewDeadline)
	defer cancel()
	err := s.opts.Client.CoordinationV1().Leases(s.opts.Namespace).Delete(ctx, s.lease.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &s.lease.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) {
		logger.Error(err, "Could not delete the shard membership Lease; the others take over when it expires", "lease", klog.KObj(s.lease))
		return
	}
	logger.Info("Left the shard group", "lease", klog.KObj(s.lease))
}
