package node

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/generated/clientset/versioned"
	"github.com/crddemo/crddemo/pkg/shard"
	"github.com/crddemo/crddemo/test/framework"
	"github.com/crddemo/crddemo/test/testhost"
)

// The sharding settings deploy/ runs with: the flags' defaults.
const (
	// shardGroup is --leader-elect-resource-name.
	shardGroup = "mydemo-controller"
	// leaseDuration and retryPeriod are the defaults of
	// --leader-elect-lease-duration and --leader-elect-retry-period.
	leaseDuration = 15 * time.Second
	retryPeriod   = 2 * time.Second
	// metricsPort is --metrics-bind-address in deploy/.
	metricsPort = 8080
)

// shareMoved bounds how long a lost replica's share may stay unprobed: the
// bound docs/architecture.md gives for a dead replica (its Lease expires by
// the survivor's clock at most a lease duration after its last renewal,
// plus up to a retry period to have seen that renewal, then one probe
// period to the next probe), plus the test's slack. A graceful stop
// deletes the Lease and moves the share much sooner; it is held to the
// same bound because the Pod's deletion first has to reach the kubelet.
const shareMoved = leaseDuration + retryPeriod + probePeriod + slack

// replica is one controller Pod and its membership Lease.
type replica struct {
	pod, ip string
	// lease is the name of the Pod's Lease and view the members it works
	// by (the Lease's shard-view annotation).
	lease string
	view  []string
}

// share is what a replica's /metrics says it holds.
type share struct{ mydemos, members int }

// metricsClient reaches the Pods' metrics ports from the node's network
// namespace, where the Pod network is routed.
func metricsClient(node *framework.Node) *http.Client {
	return &http.Client{
		Timeout: 2 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return node.Dial(ctx, network, addr)
			},
			DisableKeepAlives: true,
		},
	}
}

// scrapeShare reads crddemo_shard_mydemos and crddemo_shard_members from
// the replica at ip.
func scrapeShare(client *http.Client, ip string) (share, error) {
	resp, err := client.Get("http://" + net.JoinHostPort(ip, strconv.Itoa(metricsPort)) + "/metrics")
	if err != nil {
		return share{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return share{}, fmt.Errorf("GET /metrics of %s: %s", ip, resp.Status)
	}
	s := share{mydemos: -1, members: -1}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "crddemo_shard_mydemos":
			s.mydemos = int(v)
		case "crddemo_shard_members":
			s.members = int(v)
		}
	}
	if err := sc.Err(); err != nil {
		return share{}, err
	}
	if s.mydemos < 0 || s.members < 0 {
		return share{}, fmt.Errorf("/metrics of %s has no crddemo_shard_* gauges: is --sharding set?", ip)
	}
	return s, nil
}

// listReplicas returns the Ready, not deleted controller Pods in namespace
// with the Lease each holds. A Pod whose Lease is not there yet has lease
// "".
func listReplicas(ctx context.Context, cs kubernetes.Interface, namespace string) ([]replica, error) {
	pods, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: podSelector})
	if err != nil {
		return nil, err
	}
	leases, err := cs.CoordinationV1().Leases(namespace).List(ctx, metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(labels.Set{shard.GroupLabel: shardGroup}).String(),
	})
	if err != nil {
		return nil, err
	}
	var out []replica
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil || !podReady(&p) || p.Status.PodIP == "" {
			continue
		}
		r := replica{pod: p.Name, ip: p.Status.PodIP}
		var newest time.Time
		for _, l := range leases.Items {
			// The identity is the hostname, the Pod's name, and a suffix.
			// A killed and restarted container leaves a Lease with the same
			// Pod name until it expires; the one renewed last is the live
			// one.
			renewed := ptr.Deref(l.Spec.RenewTime, metav1.MicroTime{}).Time
			if strings.HasPrefix(ptr.Deref(l.Spec.HolderIdentity, ""), p.Name+"_") && renewed.After(newest) {
				newest = renewed
				r.lease = l.Name
				r.view = strings.Split(l.Annotations[shard.ViewAnnotation], ",")
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// countMydemos counts the Mydemos in all namespaces: every replica caches
// them all, and the shares must add up to them.
func countMydemos(ctx context.Context, crd versioned.Interface) (int, error) {
	list, err := crd.CrddemoV1().Mydemos(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, err
	}
	return len(list.Items), nil
}

// waitShares waits, within bound, until want Ready replicas in namespace
// each hold a non-empty share with want members and the shares add up to
// every Mydemo, and returns the replicas.
func waitShares(t *testing.T, cs kubernetes.Interface, crd versioned.Interface, client *http.Client, namespace string, want int, bound time.Duration) []replica {
	t.Helper()
	ctx := context.Background()
	var reps []replica
	framework.Eventually(t, bound, fmt.Sprintf("%d replicas, each with a share, the shares adding up to every Mydemo", want), func() (bool, string) {
		var err error
		reps, err = listReplicas(ctx, cs, namespace)
		if err != nil {
			return false, err.Error()
		}
		total, err := countMydemos(ctx, crd)
		if err != nil {
			return false, err.Error()
		}
		if len(reps) != want {
			return false, fmt.Sprintf("%d Ready replicas", len(reps))
		}
		sum := 0
		var seen []string
		ok := true
		for _, r := range reps {
			s, err := scrapeShare(client, r.ip)
			if err != nil {
				return false, err.Error()
			}
			sum += s.mydemos
			ok = ok && r.lease != "" && s.members == want && s.mydemos > 0
			seen = append(seen, fmt.Sprintf("%s (Lease %q): %d Mydemos, %d members", r.pod, r.lease, s.mydemos, s.members))
		}
		return ok && sum == total, fmt.Sprintf("%d Mydemos; %s", total, strings.Join(seen, "; "))
	})
	for _, r := range reps {
		s, _ := scrapeShare(client, r.ip)
		t.Logf("replica %s (Lease %s) holds %d Mydemos of %d members", r.pod, r.lease, s.mydemos, s.members)
	}
	return reps
}

// owned returns the names of the Mydemos among names (in ns) that the view
// of r gives r.
func (r replica) owned(ns string, names []string) []string {
	var out []string
	for _, n := range names {
		if shard.Owner(ns+"/"+n, r.view) == r.lease {
			out = append(out, n)
		}
	}
	return out
}

// probeLog is a TCP server in a test host that records every connection
// from the Pod network (a probe): when, to which address, from where.
type probeLog struct {
	mu   sync.Mutex
	hits map[netip.Addr][]probeHit
}

type probeHit struct {
	at   time.Time
	from string
}

func serveProbeLog(t *testing.T, host *testhost.Host, port int) *probeLog {
	t.Helper()
	ln, err := host.Listen(port)
	if err != nil {
		t.Fatal(err)
	}
	pl := &probeLog{hits: map[netip.Addr][]probeHit{}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil && framework.PodCIDR.Contains(ap.Addr()) {
				pl.mu.Lock()
				pl.hits[localAddr(c)] = append(pl.hits[localAddr(c)], probeHit{at: time.Now(), from: ap.Addr().String()})
				pl.mu.Unlock()
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return pl
}

// since returns the probes of a after t.
func (pl *probeLog) since(a netip.Addr, t time.Time) []probeHit {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	var out []probeHit
	for _, h := range pl.hits[a] {
		if h.at.After(t) {
			out = append(out, h)
		}
	}
	return out
}

// firstSince is the first probe of a after t from another address than
// not, if any.
func (pl *probeLog) firstSince(a netip.Addr, t time.Time, not string) (probeHit, bool) {
	for _, h := range pl.since(a, t) {
		if h.from != not {
			return h, true
		}
	}
	return probeHit{}, false
}

// notReadyWatch records every EndpointSlice event in ns that shows an
// endpoint not ready, and every write to a slice, until stopped.
type notReadyWatch struct {
	mu       sync.Mutex
	notReady []string
	writes   map[string]int
	stop     func()
}

func watchSlices(t *testing.T, cs kubernetes.Interface, ns string) *notReadyWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	list, err := cs.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := cs.DiscoveryV1().EndpointSlices(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	nw := &notReadyWatch{writes: map[string]int{}}
	done := make(chan struct{})
	nw.stop = func() {
		cancel()
		w.Stop()
		<-done
	}
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			s, ok := ev.Object.(*discoveryv1.EndpointSlice)
			if !ok || (ev.Type != watch.Added && ev.Type != watch.Modified && ev.Type != watch.Deleted) {
				continue
			}
			owner := s.Labels[discoveryv1.LabelServiceName]
			nw.mu.Lock()
			nw.writes[owner]++
			for _, e := range s.Endpoints {
				if !ptr.Deref(e.Conditions.Ready, false) || ev.Type == watch.Deleted {
					nw.notReady = append(nw.notReady, fmt.Sprintf("%s %s %s: %v ready=%v", ev.Type, s.Name, owner, e.Addresses, e.Conditions.Ready))
				}
			}
			nw.mu.Unlock()
		}
	}()
	t.Cleanup(nw.stop)
	return nw
}

// check stops the watch and fails t if any of names' slices were written
// or showed an endpoint not ready.
func (nw *notReadyWatch) check(t *testing.T, what string, names []string) {
	t.Helper()
	nw.stop()
	nw.mu.Lock()
	defer nw.mu.Unlock()
	for _, n := range names {
		if nw.writes[n] != 0 {
			t.Errorf("%s: %d writes to the EndpointSlices of %s, want none", what, nw.writes[n], n)
		}
	}
	for _, s := range nw.notReady {
		for _, n := range names {
			if strings.Contains(s, " "+n+":") {
				t.Errorf("%s: an endpoint went not ready: %s", what, s)
			}
		}
	}
}

// waitProbedAgain waits until every address in addrs got a probe after
// since from another address than not, and fails t unless the last of
// these first probes came within bound from since; it returns how long
// that took.
func waitProbedAgain(t *testing.T, pl *probeLog, addrs []netip.Addr, since time.Time, not string, bound time.Duration) time.Duration {
	t.Helper()
	var latest time.Duration
	framework.Eventually(t, bound+converge, "a probe of every moved Mydemo", func() (bool, string) {
		latest = 0
		var missing []string
		for _, a := range addrs {
			h, ok := pl.firstSince(a, since, not)
			if !ok {
				missing = append(missing, a.String())
				continue
			}
			latest = max(latest, h.at.Sub(since))
		}
		return len(missing) == 0, "not probed yet: " + strings.Join(missing, ", ")
	})
	if latest > bound {
		t.Errorf("the moved Mydemos were probed again after %s, want within %s", latest, bound)
	}
	return latest
}

// killController sends SIGKILL to the controller's process in pod: found
// on the node by its container's cgroup, which names the container ID.
func killController(t *testing.T, cs kubernetes.Interface, pod string) {
	t.Helper()
	p, err := cs.CoreV1().Pods(systemNamespace).Get(context.Background(), pod, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Status.ContainerStatuses) != 1 {
		t.Fatalf("Pod %s has %d container statuses", pod, len(p.Status.ContainerStatuses))
	}
	_, id, ok := strings.Cut(p.Status.ContainerStatuses[0].ContainerID, "://")
	if !ok || id == "" {
		t.Fatalf("Pod %s: container ID %q", pod, p.Status.ContainerStatuses[0].ContainerID)
	}
	procs, err := filepath.Glob("/proc/[0-9]*/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	var killed []int
	for _, f := range procs {
		data, err := os.ReadFile(f)
		if err != nil || !strings.Contains(string(data), id) {
			continue // gone, or another process
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(f)))
		if err != nil {
			continue
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err == nil {
			killed = append(killed, pid)
		}
	}
	if len(killed) == 0 {
		t.Fatalf("no process in the cgroup of container %s of Pod %s", id, pod)
	}
	t.Logf("killed %v (container %.12s of %s) with SIGKILL", killed, id, pod)
}

// testShareMoves creates Mydemos whose probes land on the test host, checks
// that each of the two replicas probes its own share only, then loses the
// replica with the larger share twice, first by deleting its Pod, then (once
// the Deployment has replaced it and the shares have settled) by killing
// its process: each time its Mydemos are probed again within shareMoved,
// by a live replica, while their EndpointSlices are neither written nor
// show an endpoint not ready.
func testShareMoves(t *testing.T, cs kubernetes.Interface, crd versioned.Interface, node *framework.Node, host *testhost.Host, ns string) {
	const port, n = 9090, 8
	pl := serveProbeLog(t, host, port)
	client := metricsClient(node)
	var names []string
	addr := map[string]netip.Addr{}
	for i := range n {
		md := &crddemov1.Mydemo{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("share-%d", i), Namespace: ns},
			Spec: crddemov1.MydemoSpec{
				IP: host.Addr(30 + i).String(), Port: port,
				Probe: &crddemov1.Probe{
					Type:             crddemov1.ProbeTypeTCP,
					PeriodSeconds:    int32(probePeriod / time.Second),
					TimeoutSeconds:   1,
					FailureThreshold: failureThreshold,
				},
			},
		}
		if _, err := crd.CrddemoV1().Mydemos(ns).Create(context.Background(), md, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		names = append(names, md.Name)
		addr[md.Name] = host.Addr(30 + i)
	}
	for _, name := range names {
		waitMydemoReady(t, crd, ns, name)
	}

	// lose loses the replica with more of the test's Mydemos (one of the
	// two holds at least half of them) by do; not is the address the
	// share's probes must come from afterwards, if not the victim's.
	lose := func(t *testing.T, how string, do func(victim replica), samePodIP bool) {
		reps := waitShares(t, cs, crd, client, systemNamespace, 2, podsReady)
		victim, survivor := reps[0], reps[1]
		if len(survivor.owned(ns, names)) > len(victim.owned(ns, names)) {
			victim, survivor = survivor, victim
		}
		moved := victim.owned(ns, names)
		t.Logf("%s holds %v of the test's Mydemos, %s the others", victim.pod, moved, survivor.pod)
		var addrs []netip.Addr
		for _, m := range moved {
			addrs = append(addrs, addr[m])
		}
		// Each replica probes its own share only: over two probe periods,
		// the victim's Mydemos are probed from its Pod alone.
		mark := time.Now()
		framework.Eventually(t, converge, "two probe periods of the victim's Mydemos", func() (bool, string) {
			return time.Since(mark) > 2*probePeriod+slack, ""
		})
		for i, a := range addrs {
			hits := pl.since(a, mark)
			if len(hits) == 0 {
				t.Errorf("%s (%s) not probed for %s", moved[i], a, time.Since(mark))
			}
			for _, h := range hits {
				if h.from != victim.ip {
					t.Errorf("%s, the share of %s at %s, was probed from %s too", moved[i], victim.pod, victim.ip, h.from)
				}
			}
		}

		sw := watchSlices(t, cs, ns)
		lost := time.Now()
		do(victim)
		// After a Pod's deletion its process may still probe until the
		// kubelet stops it: only probes from elsewhere count. A killed
		// process probes no more at once, and its Pod's restarted
		// container (same address) may take part of the share back.
		not := victim.ip
		if samePodIP {
			not = ""
		}
		took := waitProbedAgain(t, pl, addrs, lost, not, shareMoved)
		t.Logf("MEASURE %s: its %d Mydemos probed again after %s (bound %s)", how, len(moved), took.Round(time.Millisecond), shareMoved)
		for _, m := range moved {
			got, err := crd.CrddemoV1().Mydemos(ns).Get(context.Background(), m, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if c := meta.FindStatusCondition(got.Status.Conditions, crddemov1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue {
				t.Errorf("%s after the move: Ready %v", m, c)
			}
		}
		sw.check(t, how, moved)
	}

	// A failed step leaves the replicas in no known state: stop there.
	ok := t.Run("PodDeleted", func(t *testing.T) {
		lose(t, "Pod deleted", func(victim replica) {
			if err := cs.CoreV1().Pods(systemNamespace).Delete(context.Background(), victim.pod, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}, false)
	})
	ok = ok && t.Run("ProcessKilled", func(t *testing.T) {
		lose(t, "process killed", func(victim replica) { killController(t, cs, victim.pod) }, true)
	})
	if !ok {
		t.FailNow()
	}
	// The Deployment keeps (or brings back) two replicas, and they share
	// the Mydemos again.
	waitShares(t, cs, crd, client, systemNamespace, 2, podsReady)
}
