package controller

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2/ktesting"
	clocktesting "k8s.io/utils/clock/testing"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/generated/clientset/versioned/fake"
	"github.com/crddemo/crddemo/pkg/probe"
	"github.com/crddemo/crddemo/pkg/resolve"
)

// fixture is one controller on fake clientsets whose informer caches are
// filled by hand, in the style of sample-controller: a test states the
// world, runs one sync and asserts the exact API actions it caused.
type fixture struct {
	t          testing.TB
	kubeClient *k8sfake.Clientset
	client     *fake.Clientset
	prober     *fakeProber
	resolver   *fakeResolver
	recorder   *record.FakeRecorder
	controller *Controller
}

var fixedNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// newFixture loads mydemos into the Mydemo cache and tracker, and children
// (Services, EndpointSlices) into their caches and the kube tracker.
// uncached objects exist in the API but not in our filtered caches
// (foreign objects).
func newFixture(t testing.TB, mydemos []*crddemov1.Mydemo, children []runtime.Object, uncached []runtime.Object) *fixture {
	t.Helper()
	_, ctx := ktesting.NewTestContext(t)
	f := &fixture{t: t, prober: newFakeProber(), resolver: &fakeResolver{answers: map[string]resolve.Answer{}}, recorder: record.NewFakeRecorder(20)}

	var crObjs []runtime.Object
	for _, md := range mydemos {
		crObjs = append(crObjs, md)
	}
	f.client = fake.NewClientset(crObjs...)
	f.kubeClient = k8sfake.NewClientset(append(append([]runtime.Object{}, children...), uncached...)...)

	kubeFactory, mdFactory := NewInformerFactories(f.kubeClient, f.client, "", 0)
	mdInformer := mdFactory.Crddemo().V1().Mydemos()
	svcInformer := kubeFactory.Core().V1().Services()
	sliceInformer := kubeFactory.Discovery().V1().EndpointSlices()
	c, err := New(ctx, f.kubeClient, f.client, mdInformer, svcInformer, sliceInformer,
		Options{
			Clock:       clocktesting.NewFakeClock(fixedNow),
			NewProber:   func(func(cache.ObjectName)) Prober { return f.prober },
			NewResolver: func(func(cache.ObjectName)) Resolver { return f.resolver },
		})
	if err != nil {
		t.Fatal(err)
	}
	c.recorder.recordDirectly(f.recorder)
	for _, md := range mydemos {
		if err := mdInformer.Informer().GetIndexer().Add(md); err != nil {
			t.Fatal(err)
		}
	}
	for _, obj := range children {
		var err error
		switch o := obj.(type) {
		case *corev1.Service:
			err = svcInformer.Informer().GetIndexer().Add(o)
		case *discoveryv1.EndpointSlice:
			err = sliceInformer.Informer().GetIndexer().Add(o)
		default:
			err = fmt.Errorf("unexpected child %T", obj)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	f.controller = c
	return f
}

// addr is the probe address of the Mydemo key (spec.ip:spec.port).
func (f *fixture) addr(key cache.ObjectName) string {
	f.t.Helper()
	md, err := f.client.CrddemoV1().Mydemos(key.Namespace).Get(context.Background(), key.Name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return netJoin(netip.MustParseAddr(md.Spec.IP), md.Spec.Port)
}

// dualStack makes the fake API server serve both IP families, as a
// dual-stack cluster's does: a PreferDualStack Service gets the second
// family. Without it the fake behaves as a single-stack cluster.
func (f *fixture) dualStack() {
	addSecond := func(action core.Action) (bool, runtime.Object, error) {
		obj, ok := action.(interface{ GetObject() runtime.Object })
		if !ok {
			return false, nil, nil
		}
		svc, ok := obj.GetObject().(*corev1.Service)
		if ok && svc.Spec.IPFamilyPolicy != nil && *svc.Spec.IPFamilyPolicy == corev1.IPFamilyPolicyPreferDualStack && len(svc.Spec.IPFamilies) == 1 {
			other := corev1.IPv6Protocol
			if svc.Spec.IPFamilies[0] == corev1.IPv6Protocol {
				other = corev1.IPv4Protocol
			}
			svc.Spec.IPFamilies = append(svc.Spec.IPFamilies, other)
		}
		return false, nil, nil
	}
	f.kubeClient.PrependReactor("create", "services", addSecond)
	f.kubeClient.PrependReactor("update", "services", addSecond)
}

// sync runs one sync of key, told about the queue as the worker would
// tell it, and returns its result.
func (f *fixture) sync(key cache.ObjectName) syncResult {
	_, ctx := ktesting.NewTestContext(f.t)
	f.kubeClient.ClearActions()
	f.client.ClearActions()
	q := f.controller.queue
	return f.controller.syncMydemo(ctx, key, queueState{failures: q.NumRequeues(key), waiting: q.Len})
}

// action is the short form of an API action: "verb resource[/subresource]".
func actionsOf(actions []core.Action) []string {
	var out []string
	for _, a := range actions {
		if a.GetVerb() == "list" || a.GetVerb() == "watch" {
			continue
		}
		s := a.GetVerb() + " " + a.GetResource().Resource
		if sub := a.GetSubresource(); sub != "" {
			s += "/" + sub
		}
		out = append(out, s)
	}
	return out
}

func (f *fixture) expectActions(kube, crd []string) {
	f.t.Helper()
	if got := actionsOf(f.kubeClient.Actions()); !equality.Semantic.DeepEqual(got, kube) {
		f.t.Errorf("kube actions:\n got  %q\n want %q", got, kube)
	}
	if got := actionsOf(f.client.Actions()); !equality.Semantic.DeepEqual(got, crd) {
		f.t.Errorf("mydemo actions:\n got  %q\n want %q", got, crd)
	}
}

func (f *fixture) expectEvents(want ...string) {
	f.t.Helper()
	var got []string
	for {
		select {
		case e := <-f.recorder.Events:
			got = append(got, e)
			continue
		default:
		}
		break
	}
	if len(got) != len(want) {
		f.t.Fatalf("events:\n got  %q\n want prefixes %q", got, want)
	}
	for i := range want {
		if len(got[i]) < len(want[i]) || got[i][:len(want[i])] != want[i] {
			f.t.Errorf("event %d: got %q, want prefix %q", i, got[i], want[i])
		}
	}
}

// stored returns what the fake API holds after the sync.
func (f *fixture) storedMydemo(key cache.ObjectName) *crddemov1.Mydemo {
	f.t.Helper()
	md, err := f.client.CrddemoV1().Mydemos(key.Namespace).Get(context.Background(), key.Name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return md
}

func (f *fixture) storedService(key cache.ObjectName) *corev1.Service {
	f.t.Helper()
	svc, err := f.kubeClient.CoreV1().Services(key.Namespace).Get(context.Background(), key.Name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return svc
}

func (f *fixture) storedSlice(namespace, name string) *discoveryv1.EndpointSlice {
	f.t.Helper()
	slice, err := f.kubeClient.DiscoveryV1().EndpointSlices(namespace).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return slice
}

// fakeProber records what the controller asked for and returns canned
// states by address (stateKey). An address without a canned state has been Unknown for
// long (so the controller does not wait for a first verdict).
type fakeProber struct {
	targets   map[cache.ObjectName][]probe.Target
	states    map[string]probe.State
	forgotten []cache.ObjectName
	seeded    []string
}

func newFakeProber() *fakeProber {
	return &fakeProber{targets: map[cache.ObjectName][]probe.Target{}, states: map[string]probe.State{}}
}

func (p *fakeProber) Sync(key cache.ObjectName, targets []probe.Target) []probe.State {
	_, known := p.targets[key]
	p.targets[key] = targets
	out := make([]probe.State, len(targets))
	for i, t := range targets {
		id := stateKey(t.Role, t.Address)
		s, ok := p.states[id]
		if !ok && !known && t.Seed.Reachability != probe.Unknown {
			p.seeded = append(p.seeded, id)
			p.states[id] = t.Seed
			s = t.Seed
		}
		if s.Since.IsZero() {
			s.Since = fixedNow.Add(-time.Hour)
		}
		out[i] = s
	}
	return out
}

// stateKey is where fakeProber keeps the state of a target: by address
// for the Mydemo's own probe, by "role/address" for a role's.
func stateKey(role, address string) string {
	if role == "" {
		return address
	}
	return role + "/" + address
}

func (p *fakeProber) Forget(key cache.ObjectName) {
	delete(p.targets, key)
	p.forgotten = append(p.forgotten, key)
}

func (p *fakeProber) Run(ctx context.Context) { <-ctx.Done() }

// fakeResolver answers from a table.
type fakeResolver struct {
	answers map[string]resolve.Answer
	asked   []string
}

func (r *fakeResolver) Sync(key cache.ObjectName, hostnames []string, period time.Duration) map[string]resolve.Answer {
	out := map[string]resolve.Answer{}
	for _, h := range hostnames {
		r.asked = append(r.asked, h)
		out[h] = r.answers[h]
	}
	return out
}

func (r *fakeResolver) Forget(cache.ObjectName) {}
func (r *fakeResolver) Run(ctx context.Context) { <-ctx.Done() }

// newMydemo is a Mydemo with a UID and generation, as the API returns it.
func newMydemo(name, ip string, port int32, mutate ...func(*crddemov1.Mydemo)) *crddemov1.Mydemo {
	md := &crddemov1.Mydemo{
		TypeMeta: metav1.TypeMeta{APIVersion: crddemov1.SchemeGroupVersion.String(), Kind: "Mydemo"},
		ObjectMeta: metav1.ObjectMeta{
			Namespace:  "ns",
			Name:       name,
			UID:        types.UID("uid-" + name),
			Generation: 1,
		},
		Spec: crddemov1.MydemoSpec{IP: ip, Port: port, Protocol: crddemov1.ProtocolTCP},
	}
	for _, m := range mutate {
		m(md)
	}
	return md
}

func probeNone(md *crddemov1.Mydemo) {
	md.Spec.Probe = &crddemov1.Probe{Type: crddemov1.ProbeTypeNone}
}

// converge syncs md from an empty cluster and returns the resulting Mydemo
// (with status) and children, with a cluster IP filled in as the API
// server would.
func converge(t testing.TB, md *crddemov1.Mydemo, state probe.State) (*crddemov1.Mydemo, []runtime.Object) {
	t.Helper()
	f := newFixture(t, []*crddemov1.Mydemo{md}, nil, nil)
	key := cache.MetaObjectToName(md)
	addr := netJoin(netip.MustParseAddr(md.Spec.IP), md.Spec.Port)
	f.prober.states[addr] = state
	if r := f.sync(key); r.retry {
		t.Fatalf("converging: %+v", r)
	}
	svc := f.storedService(key)
	svc.Spec.ClusterIP = "10.96.0.10"
	svc.ResourceVersion = "1"
	slice := f.storedSlice(md.Namespace, md.Name+"-"+strings.ToLower(string(addressTypeOf(md.Spec.IP))))
	slice.ResourceVersion = "1"
	// The first sync could not know the cluster IP (the fake API does not
	// allocate one); a second sync on the allocated Service settles status.
	f2 := newFixture(t, []*crddemov1.Mydemo{f.storedMydemo(key)}, []runtime.Object{svc, slice}, nil)
	f2.prober.states[addr] = state
	if r := f2.sync(key); r.retry {
		t.Fatalf("converging: %+v", r)
	}
	return f2.storedMydemo(key), []runtime.Object{svc, slice}
}
