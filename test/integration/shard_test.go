package integration

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/scheme"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/operator"
	"github.com/crddemo/crddemo/pkg/shard"
	"github.com/crddemo/crddemo/test/testhost"
)

// Shard timings of these tests: short, so that an expiry is awaited in
// seconds; in the same ratios as the defaults (15 s, 10 s, 2 s).
const (
	shardLeaseDuration = 3 * time.Second
	shardRenewDeadline = 2 * time.Second
	shardRetryPeriod   = 500 * time.Millisecond
)

// shardWrite is one write request a replica sent about a Mydemo's
// Service, EndpointSlices or status, with when it was sent and answered.
type shardWrite struct {
	replica    string
	mydemo     string
	start, end time.Time
}

func (x shardWrite) String() string { return x.replica + " wrote " + x.mydemo }

// shardWrites records the writes of every replica of a test, by Mydemo.
type shardWrites struct {
	mu     sync.Mutex
	names  []string
	writes []shardWrite
}

// mydemoOf returns the test Mydemo a Service or EndpointSlice name
// belongs to: the Service is named after it, its slices start with its
// name and a dash.
func (w *shardWrites) mydemoOf(name string) string {
	for _, md := range w.names {
		if name == md || strings.HasPrefix(name, md+"-") {
			return md
		}
	}
	return ""
}

// wrap counts replica's writes; while cut is set, every request fails
// before it leaves (a replica cut off from the API server).
func (w *shardWrites) wrap(replica string, cut *atomic.Bool) func(http.RoundTripper) http.RoundTripper {
	return func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
			if cut.Load() {
				return nil, errors.New("cut off from the API server by the test")
			}
			md := w.target(req)
			if md == "" {
				return rt.RoundTrip(req)
			}
			start := time.Now()
			resp, err := rt.RoundTrip(req)
			w.mu.Lock()
			w.writes = append(w.writes, shardWrite{replica: replica, mydemo: md, start: start, end: time.Now()})
			w.mu.Unlock()
			return resp, err
		})
	}
}

// target is the Mydemo a write request is about, "" for reads and for
// writes of other kinds (Events, Leases).
func (w *shardWrites) target(req *http.Request) string {
	if req.Method == http.MethodGet {
		return ""
	}
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	i := slices.Index(parts, "namespaces")
	if i < 0 || len(parts) < i+3 {
		return ""
	}
	resource := parts[i+2]
	switch resource {
	case "mydemos", "services", "endpointslices":
	default:
		return ""
	}
	if len(parts) > i+3 {
		return w.mydemoOf(parts[i+3])
	}
	// A create: the name is in the body (protobuf for built-in kinds).
	if req.GetBody == nil {
		return ""
	}
	body, err := req.GetBody()
	if err != nil {
		return ""
	}
	data, _ := io.ReadAll(body)
	obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(bytes.TrimSpace(data), nil, nil)
	if err != nil {
		return ""
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return ""
	}
	return w.mydemoOf(m.GetName())
}

// since returns the writes that started at or after t.
func (w *shardWrites) since(t time.Time) []shardWrite {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []shardWrite
	for _, x := range w.writes {
		if !x.start.Before(t) {
			out = append(out, x)
		}
	}
	return out
}

// overlaps returns, for each Mydemo, every pair of writes by two replicas
// whose requests were in flight at the same time: two writers.
func (w *shardWrites) overlaps() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var bad []string
	for i, a := range w.writes {
		for _, b := range w.writes[i+1:] {
			if a.mydemo == b.mydemo && a.replica != b.replica && a.start.Before(b.end) && b.start.Before(a.end) {
				bad = append(bad, fmt.Sprintf("%s: %s and %s", a.mydemo, a.replica, b.replica))
			}
		}
	}
	return bad
}

// writers returns the replicas that wrote about each Mydemo.
func (w *shardWrites) writers() map[string][]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string][]string{}
	for _, x := range w.writes {
		if !slices.Contains(out[x.mydemo], x.replica) {
			out[x.mydemo] = append(out[x.mydemo], x.replica)
		}
	}
	return out
}

// sequences returns, for each Mydemo, the replicas that wrote it in the
// order of their writes, each run of one replica's writes counted once.
func (w *shardWrites) sequences() map[string][]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	ordered := slices.Clone(w.writes)
	slices.SortFunc(ordered, func(x, y shardWrite) int { return x.start.Compare(y.start) })
	out := map[string][]string{}
	for _, x := range ordered {
		if seq := out[x.mydemo]; len(seq) == 0 || seq[len(seq)-1] != x.replica {
			out[x.mydemo] = append(seq, x.replica)
		}
	}
	return out
}

// shardReplica is one in-process replica with --sharding.
type shardReplica struct {
	*runningController
	name string
	cut  *atomic.Bool
}

func (e *env) startShardReplica(name string, w *shardWrites) *shardReplica {
	e.t.Helper()
	cut := &atomic.Bool{}
	rc := e.startController(func(c *operator.Config) {
		c.RestConfig.Wrap(w.wrap(name, cut))
		c.Sharding = &shard.Options{
			Namespace:     e.ns,
			Group:         "mydemo-controller",
			Identity:      name,
			LeaseDuration: shardLeaseDuration,
			RenewDeadline: shardRenewDeadline,
			RetryPeriod:   shardRetryPeriod,
		}
	})
	return &shardReplica{runningController: rc, name: name, cut: cut}
}

// owners returns, for each key, the replicas whose assignment owns it.
func (e *env) owners(keys []string, replicas ...*shardReplica) map[string][]string {
	out := map[string][]string{}
	for _, r := range replicas {
		a := r.op.Assignment()
		for _, k := range keys {
			if a.Owns(e.ns + "/" + k) {
				out[k] = append(out[k], r.name)
			}
		}
	}
	return out
}

// waitShares waits until every key has exactly one owner among replicas,
// and every replica owns some: the share has settled.
func (e *env) waitShares(timeout time.Duration, keys []string, replicas ...*shardReplica) {
	e.t.Helper()
	e.eventually(timeout, fmt.Sprintf("every Mydemo owned by exactly one of %d replicas", len(replicas)), func() (bool, string) {
		owners := e.owners(keys, replicas...)
		count := map[string]int{}
		for _, k := range keys {
			if len(owners[k]) != 1 {
				return false, fmt.Sprintf("%s owned by %v", k, owners[k])
			}
			count[owners[k][0]]++
		}
		for _, r := range replicas {
			if count[r.name] == 0 {
				return false, r.name + " owns nothing"
			}
		}
		return true, fmt.Sprint(count)
	})
}

// TestShardingMovesWithoutWrites: with --sharding, replicas split the
// Mydemos, each written by one replica only; a replica joining, one
// leaving gracefully and one cut off from the API server (as dead as
// kill -9 to the others) move Mydemos between replicas without a single
// write to a Service, slice or status and without an endpoint going not
// ready; the share of the cut-off replica is taken within the lease
// duration, and its Mydemos are probed again.
func TestShardingMovesWithoutWrites(t *testing.T) {
	host := testhost.Require(t)
	const port, closedPort, n = 8080, 8081, 24
	if err := host.Serve(port); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	w := &shardWrites{}
	names := make([]string, n)
	healthy := map[string]bool{}
	for i := range n {
		names[i] = fmt.Sprintf("s-%03d", i)
		healthy[names[i]] = i%4 != 3
	}
	w.names = names

	a := e.startShardReplica("a", w)
	b := e.startShardReplica("b", w)
	e.waitShares(converge, names, a, b)
	for i, name := range names {
		p := int32(port)
		if !healthy[name] {
			p = closedPort // refused: stays Unreachable
		}
		e.createMydemo(name, crddemov1.MydemoSpec{IP: host.Addr(i + 1).String(), Port: p, Probe: &crddemov1.Probe{
			Type: crddemov1.ProbeTypeTCP, PeriodSeconds: 1, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 2}})
	}
	for _, name := range names {
		want := metav1.ConditionTrue
		if !healthy[name] {
			want = metav1.ConditionFalse
		}
		e.waitCondition(name, crddemov1.ConditionReachable, want, "", converge)
	}
	for md, ws := range w.writers() {
		if len(ws) != 1 {
			t.Errorf("%s was written by %v; want one replica", md, ws)
		}
	}
	// The share the metrics report counts Mydemos created after the last
	// change of membership.
	e.eventually(converge, "the replicas' shares to add up to every Mydemo", func() (bool, string) {
		ha, ma := a.op.ShardShare()
		hb, mb := b.op.ShardShare()
		return ha+hb == n && ha > 0 && hb > 0 && ma == 2 && mb == 2, fmt.Sprintf("a holds %d of %d members' Mydemos, b %d of %d", ha, ma, hb, mb)
	})

	// From here on every endpoint keeps its verdict: no write is due.
	settled := time.Now()
	list, err := e.kube.DiscoveryV1().EndpointSlices(e.ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stopWatch := e.watchSlices(metav1.ListOptions{ResourceVersion: list.ResourceVersion}, func(_ watch.EventType, s *discoveryv1.EndpointSlice) (bool, string) {
		return true, "a slice changed although no verdict did"
	})
	// quiet waits three probe periods: long enough for a wrong verdict (a
	// move that lost one, or a replica probing a Mydemo it lost) to be
	// written.
	quiet := func() { time.Sleep(3 * time.Second) }

	// A replica joins: it takes about a third, the others drop it.
	c := e.startShardReplica("c", w)
	e.waitShares(converge, names, a, b, c)
	quiet()

	// A graceful leave: a's share moves at once (its Lease is deleted).
	left := time.Now()
	a.stop()
	e.waitShares(converge, names, b, c)
	tookLeave := time.Since(left)
	t.Logf("a's share moved %s after it was asked to stop", tookLeave.Round(time.Millisecond))
	// The others react to the deletion of a's Lease: one second covers
	// a's Lease delete and each survivor's Lease write and list on a
	// loaded machine. Waiting for the Lease to expire instead would take
	// at least the lease duration less one retry period (2.5 s).
	if leaveBound := time.Second; tookLeave > leaveBound {
		t.Errorf("a's share moved %s after it was asked to stop; want at most %s (a released it)", tookLeave, leaveBound)
	}
	quiet()

	// b is cut off: its Lease is no longer renewed, and c takes its share
	// once the Lease expired by c's clock: within the lease duration, plus
	// up to one retry period for c to observe the last renewal, plus one
	// second for c's writes and reads of Leases.
	bShare := e.owners(names, b)
	b.cut.Store(true)
	cut := time.Now()
	bound := shardLeaseDuration + shardRetryPeriod + time.Second
	e.waitShares(bound+converge, names, c)
	took := time.Since(cut)
	t.Logf("b's share (%d Mydemos) moved %s after b was cut off", len(bShare), took.Round(time.Millisecond))
	if took > bound {
		t.Errorf("b's share moved after %s; want at most %s", took, bound)
	}
	quiet()
	if got := stopWatch(); got != 0 {
		t.Errorf("%d slice events during the moves; want none", got)
	}
	if ws := w.since(settled); len(ws) != 0 {
		t.Errorf("%d writes during the moves; want none: %v", len(ws), ws)
	}

	// c probes what b held: a target of b's going down is seen.
	var moved string
	for md := range bShare {
		if healthy[md] {
			moved = md
			break
		}
	}
	if moved == "" {
		t.Fatal("b held no healthy Mydemo")
	}
	i := slices.Index(names, moved)
	if err := host.StopServing(port); err != nil {
		t.Fatal(err)
	}
	e.waitCondition(names[i], crddemov1.ConditionReachable, metav1.ConditionFalse, "", converge)
	for _, bad := range w.overlaps() {
		t.Errorf("two writers at once: %s", bad)
	}
}

// TestShardingNeverTwoWriters: while every Mydemo keeps changing (so that
// each owner keeps writing its Service, slices and status), a replica
// joins, one leaves gracefully and one is cut off. No Mydemo is ever
// written by two replicas at once, and none goes back to a replica that
// wrote it before another did: the old owner stopped before the new one
// started. (The moment two replicas' views disagree is too short here to
// be hit on purpose; pkg/shard's TestNewcomerWaitsForReleaseOrExpiry
// holds the fence in it. This test fails without the gate.)
func TestShardingNeverTwoWriters(t *testing.T) {
	e := newEnv(t)
	w := &shardWrites{}
	const n = 30
	names := make([]string, n)
	for i := range n {
		names[i] = fmt.Sprintf("w-%03d", i)
		e.createMydemo(names[i], unprobed(fmt.Sprintf("10.251.2.%d", i+1), 8080))
	}
	w.names = names
	a := e.startShardReplica("a", w)
	b := e.startShardReplica("b", w)
	for _, name := range names {
		e.waitCondition(name, crddemov1.ConditionReady, metav1.ConditionTrue, "", converge)
	}

	// Keep changing every Mydemo's port, one after the other.
	stopChurn := make(chan struct{})
	churned := make(chan int)
	go func() {
		updates := 0
		defer func() { churned <- updates }()
		for i := 0; ; i++ {
			select {
			case <-stopChurn:
				return
			default:
			}
			md, err := e.client.CrddemoV1().Mydemos(e.ns).Get(t.Context(), names[i%n], metav1.GetOptions{})
			if err != nil {
				continue
			}
			md.Spec.Port = 8080 + int32(i%2)
			if _, err := e.client.CrddemoV1().Mydemos(e.ns).Update(t.Context(), md, metav1.UpdateOptions{}); err == nil {
				updates++
			}
		}
	}()

	c := e.startShardReplica("c", w)
	e.waitShares(converge, names, a, b, c)
	a.stop()
	e.waitShares(converge, names, b, c)
	b.cut.Store(true)
	e.waitShares(converge, names, c)
	close(stopChurn)
	t.Logf("%d spec changes during the moves", <-churned)
	moved := 0
	for _, seq := range w.sequences() {
		if len(seq) > 1 {
			moved++
		}
	}
	t.Logf("%d writes; %d Mydemos written by more than one replica, one after the other", len(w.since(time.Time{})), moved)

	for _, bad := range w.overlaps() {
		t.Errorf("two writers at once: %s", bad)
	}
	for md, seq := range w.sequences() {
		seen := map[string]bool{}
		for _, r := range seq {
			if seen[r] {
				t.Errorf("%s went back to %s after another replica wrote it: %v", md, r, seq)
				break
			}
			seen[r] = true
		}
	}
}
