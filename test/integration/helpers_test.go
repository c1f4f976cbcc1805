package integration

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2/ktesting"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/generated/clientset/versioned"
	"github.com/crddemo/crddemo/pkg/operator"
	"github.com/crddemo/crddemo/test/framework"
)

// env is one test's namespace, clients and (optionally) running controller.
type env struct {
	t      *testing.T
	ns     string
	kube   kubernetes.Interface
	client versioned.Interface
}

func newEnv(t *testing.T) *env {
	t.Helper()
	cp := framework.Get()
	kube := kubernetes.NewForConfigOrDie(cp.Config)
	return &env{
		t:      t,
		ns:     framework.CreateNamespace(t, kube),
		kube:   kube,
		client: versioned.NewForConfigOrDie(cp.Config),
	}
}

// requestCounter counts the requests a client sends, by HTTP method.
type requestCounter struct {
	mu     sync.Mutex
	counts map[string]int
	total  atomic.Int64
}

func (c *requestCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		method := req.Method
		// Access reviews (the start-up permission check) are POSTs that
		// store nothing; count them apart from writes.
		if strings.HasPrefix(req.URL.Path, "/apis/authorization.k8s.io/") {
			method = "REVIEW"
		}
		c.mu.Lock()
		if c.counts == nil {
			c.counts = map[string]int{}
		}
		c.counts[method]++
		if strings.Contains(req.URL.Path, "/endpointslices") && method != http.MethodGet {
			c.counts[method+" endpointslices"]++
		}
		c.mu.Unlock()
		c.total.Add(1)
		return rt.RoundTrip(req)
	})
}

// writes is the number of requests that change something.
func (c *requestCounter) writes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[http.MethodPost] + c.counts[http.MethodPut] + c.counts[http.MethodPatch] + c.counts[http.MethodDelete]
}

// sliceWrites is the number of EndpointSlice creates, updates and deletes.
func (c *requestCounter) sliceWrites() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts["POST endpointslices"] + c.counts["PUT endpointslices"] + c.counts["DELETE endpointslices"]
}

func (c *requestCounter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.counts {
		out[k] = v
	}
	return out
}

// syncCounter counts the controller's syncs (controller.SyncObserver).
type syncCounter struct{ n atomic.Int64 }

func (c *syncCounter) ObserveSync(string, time.Duration) { c.n.Add(1) }

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// runningController is an in-process operator scoped to one namespace.
type runningController struct {
	op       *operator.Operator
	counter  *requestCounter
	syncs    *syncCounter
	cancel   context.CancelFunc
	done     chan error
	stopOnce sync.Once
}

// startController runs the operator on the test's namespace only, so other
// tests' Mydemos (and the examples' documentation addresses) are never
// probed by it. It is stopped at cleanup.
func (e *env) startController(tweaks ...func(*operator.Config)) *runningController {
	e.t.Helper()
	cfg := rest.CopyConfig(framework.Get().Config)
	counter := &requestCounter{}
	cfg.Wrap(counter.wrap)
	_, ctx := ktesting.NewTestContext(e.t)
	ctx, cancel := context.WithCancel(ctx)
	syncs := &syncCounter{}
	opCfg := operator.Config{
		Observer:         syncs,
		RestConfig:       cfg,
		Namespace:        e.ns,
		Workers:          4,
		ProbeConcurrency: 50,
	}
	for _, tweak := range tweaks {
		tweak(&opCfg)
	}
	op, err := operator.New(ctx, opCfg)
	if err != nil {
		cancel()
		e.t.Fatal(err)
	}
	if err := op.Preflight(ctx); err != nil {
		cancel()
		e.t.Fatal(err)
	}
	rc := &runningController{op: op, counter: counter, syncs: syncs, cancel: cancel, done: make(chan error, 1)}
	go func() { rc.done <- op.Run(ctx) }()
	e.t.Cleanup(rc.stop)
	e.eventually(30*time.Second, "controller caches synced", func() (bool, string) { return op.HasSynced(), "" })
	return rc
}

func (rc *runningController) stop() {
	rc.stopOnce.Do(func() {
		rc.cancel()
		<-rc.done
	})
}

func (e *env) createMydemo(name string, spec crddemov1.MydemoSpec) *crddemov1.Mydemo {
	e.t.Helper()
	md, err := e.client.CrddemoV1().Mydemos(e.ns).Create(context.Background(), &crddemov1.Mydemo{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       spec,
	}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return md
}

// unprobed is a spec whose address is never dialled (probe type None), so
// it may be any address the API accepts.
func unprobed(ip string, port int32) crddemov1.MydemoSpec {
	return crddemov1.MydemoSpec{IP: ip, Port: port, Probe: &crddemov1.Probe{Type: crddemov1.ProbeTypeNone}}
}

// eventually polls cond until it holds or the timeout passes.
func (e *env) eventually(timeout time.Duration, what string, cond func() (bool, string)) {
	e.t.Helper()
	framework.Eventually(e.t, timeout, what, cond)
}

func (e *env) getMydemo(name string) *crddemov1.Mydemo {
	e.t.Helper()
	md, err := e.client.CrddemoV1().Mydemos(e.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return md
}

// conditionIs waits until the Mydemo's condition has the given status
// (and reason, if not empty).
func (e *env) waitCondition(name, condType string, status metav1.ConditionStatus, reason string, timeout time.Duration) *crddemov1.Mydemo {
	e.t.Helper()
	var md *crddemov1.Mydemo
	e.eventually(timeout, name+" "+condType+"="+string(status)+" "+reason, func() (bool, string) {
		var err error
		md, err = e.client.CrddemoV1().Mydemos(e.ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(md.Status.Conditions, condType)
		if c == nil {
			return false, "no condition yet"
		}
		return c.Status == status && (reason == "" || c.Reason == reason), string(c.Status) + "/" + c.Reason + ": " + c.Message
	})
	return md
}

func (e *env) getService(name string) (*corev1.Service, error) {
	return e.kube.CoreV1().Services(e.ns).Get(context.Background(), name, metav1.GetOptions{})
}

func (e *env) getSlice(name string) (*discoveryv1.EndpointSlice, error) {
	return e.kube.DiscoveryV1().EndpointSlices(e.ns).Get(context.Background(), name, metav1.GetOptions{})
}

// endpointReady waits until the slice's single endpoint has ready == want.
func (e *env) waitEndpointReady(slice string, want bool, timeout time.Duration) {
	e.t.Helper()
	e.eventually(timeout, "endpoint of "+slice+" ready="+map[bool]string{true: "true", false: "false"}[want], func() (bool, string) {
		s, err := e.getSlice(slice)
		if err != nil {
			return false, err.Error()
		}
		if len(s.Endpoints) != 1 || s.Endpoints[0].Conditions.Ready == nil {
			return false, "no endpoint"
		}
		return *s.Endpoints[0].Conditions.Ready == want, ""
	})
}

// waitEvent waits for an Event with the given type and reason about name.
func (e *env) waitEvent(name, eventType, reason string, timeout time.Duration) corev1.Event {
	e.t.Helper()
	var found corev1.Event
	e.eventually(timeout, eventType+" Event "+reason+" for "+name, func() (bool, string) {
		list, err := e.kube.CoreV1().Events(e.ns).List(context.Background(), metav1.ListOptions{
			FieldSelector: "involvedObject.name=" + name + ",reason=" + reason,
		})
		if err != nil {
			return false, err.Error()
		}
		for _, ev := range list.Items {
			if ev.Type == eventType {
				found = ev
				return true, ""
			}
		}
		return false, "not yet"
	})
	return found
}

// watchSlices watches the namespace's EndpointSlices matching opts (from
// opts.ResourceVersion) and calls bad on every event; each event bad
// reports (with why) fails the test. The returned stop ends the watch and
// returns how many events were bad.
func (e *env) watchSlices(opts metav1.ListOptions, bad func(watch.EventType, *discoveryv1.EndpointSlice) (bool, string)) (stop func() int) {
	e.t.Helper()
	w, err := e.kube.DiscoveryV1().EndpointSlices(e.ns).Watch(context.Background(), opts)
	if err != nil {
		e.t.Fatal(err)
	}
	var n atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			s, ok := ev.Object.(*discoveryv1.EndpointSlice)
			if !ok {
				continue
			}
			if isBad, why := bad(ev.Type, s); isBad {
				e.t.Errorf("%s %s: %s", ev.Type, s.Name, why)
				n.Add(1)
			}
		}
	}()
	var once sync.Once
	stop = func() int {
		once.Do(func() {
			w.Stop()
			<-done
		})
		return int(n.Load())
	}
	e.t.Cleanup(func() { stop() })
	return stop
}
