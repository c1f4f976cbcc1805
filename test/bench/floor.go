package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/controller"
	"github.com/crddemo/crddemo/pkg/generated/clientset/versioned"
	"github.com/crddemo/crddemo/pkg/operator"
	"github.com/crddemo/crddemo/test/framework"
)

// FloorResult is the cost of the controller's writes alone, in the same
// conditions: the bench creates the N Mydemos as in the convergence phase
// (same concurrency, same client), and a plain loop sends the three writes
// that publish each one (Service create, EndpointSlice create, status
// update) as soon as its create has returned, with the controller's client
// limits and concurrency. Seconds runs from the first create to the last
// write, as the controller's convergence does.
type FloorResult struct {
	Namespace         string  `json:"namespace"`
	Workers           int     `json:"workers"`
	QPS               float64 `json:"qps"`
	Burst             int     `json:"burst"`
	Requests          int     `json:"requests"`
	Seconds           float64 `json:"seconds"`
	RequestsPerSecond float64 `json:"requests_per_second"`
	// CreateSeconds is the part of Seconds until the last create returned.
	CreateSeconds float64 `json:"create_seconds"`
	// Ratio is the controller's time to publish all N divided by Seconds;
	// ReadyRatio its time until every Mydemo is Ready and every endpoint
	// ready, divided by Seconds (issue 14's goal: 1.2).
	Ratio      float64 `json:"ratio"`
	ReadyRatio float64 `json:"ready_ratio"`
	// ReadySeries is the number of the floor's Mydemos with Ready=True
	// over time, in seconds from its first create, for the convergence
	// plot.
	ReadySeries []Point `json:"ready_series,omitempty"`

	// began is when the first create was sent.
	began time.Time
}

// runFloorApart runs the floor on a control plane of its own, started for
// it with the same components as the controller's (kube-controller-manager
// included: its garbage collector watches every object written) and the
// bench's own watches, and stopped after it. The controller then meets the
// same state the floor met: an empty cluster of the same build, not one
// holding the floor's N Services and slices or the history of deleting
// them (which, at N=10,000, also took the namespace controller four
// minutes).
func runFloorApart(ctx context.Context, e *env) (*FloorResult, error) {
	cp, err := framework.Start(ctx, framework.Options{ControllerManager: true, Logf: e.cfg.Logf})
	if err != nil {
		return nil, fmt.Errorf("starting its control plane: %w", err)
	}
	defer cp.Stop()
	cfg := rest.CopyConfig(cp.Config)
	cfg.QPS, cfg.Burst = benchQPS, benchBurst
	cfg.UserAgent = "crddemo-bench"
	floor := *e
	floor.cp = cp
	if floor.kube, err = kubernetes.NewForConfig(operator.BuiltinKindsConfig(cfg)); err != nil {
		return nil, err
	}
	if floor.client, err = versioned.NewForConfig(cfg); err != nil {
		return nil, err
	}
	if _, err := floor.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: floorNamespace}}, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("creating namespace %s: %w", floorNamespace, err)
	}
	// The bench watches the floor's objects as it watches the
	// controller's, so the API server sends the same watch events in
	// both phases; the watch also checks that the floor did its work.
	t, err := startTracker(ctx, floor.kube, floor.client, floorNamespace)
	if err != nil {
		return nil, err
	}
	defer t.stop()
	r, err := runFloor(ctx, &floor)
	if err != nil {
		return nil, err
	}
	if err := e.waitAllReady(ctx, t, "the floor's Mydemos published and ready"); err != nil {
		return r, err
	}
	ready, _ := t.latest(e.names, readyTime)
	r.ReadySeries = t.countSeries(e.names, readyFlips, r.began, ready)
	return r, nil
}

// runFloor creates the floor's N Mydemos (probe None, in a namespace no
// controller watches) the way runConvergence creates the controller's, and
// hands each one, once created, to e.flags.Workers writers. So the API
// server serves the bench's creates and the floor's writes at once, as it
// serves the bench's creates and the controller's writes in the
// convergence phase; timing the writes after an untimed creation would
// give the floor an idle API server the controller never has.
//
// The floor has two clientsets built from one config, so two client-side
// rate limiters: one for Services and EndpointSlices, one for Mydemos, as
// the controller has for the same writes (its third, for Events, has no
// counterpart here).
func runFloor(ctx context.Context, e *env) (*FloorResult, error) {
	cfg := rest.CopyConfig(e.cp.Config)
	cfg.QPS, cfg.Burst = float32(e.flags.QPS), e.flags.Burst
	cfg.UserAgent = "crddemo-bench-floor"
	// The controller's client settings: protobuf for built-in kinds.
	kube, err := kubernetes.NewForConfig(operator.BuiltinKindsConfig(cfg))
	if err != nil {
		return nil, fmt.Errorf("creating the floor's client: %w", err)
	}
	client, err := versioned.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating the floor's client: %w", err)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Buffered for all N, so the creators never wait for the writers:
	// creation runs at its own pace, as it does for the controller.
	created := make(chan *crddemov1.Mydemo, len(e.names))
	var (
		wg       sync.WaitGroup
		once     sync.Once
		writeErr error
	)
	for range min(e.flags.Workers, len(e.names)) {
		wg.Go(func() {
			for md := range created {
				if err := floorWrites(ctx, kube, client, md); err != nil {
					once.Do(func() { writeErr = err; cancel() })
					return
				}
			}
		})
	}
	begin := time.Now()
	err = forEach(ctx, len(e.names), createConcurrency, func(ctx context.Context, i int) error {
		md, err := e.createMydemo(ctx, floorNamespace, i, e.floorSpec(i))
		if err == nil {
			created <- md
		}
		return err
	})
	createTook := time.Since(begin)
	if err != nil {
		cancel()
	}
	close(created)
	wg.Wait()
	took := time.Since(begin)
	if writeErr != nil {
		return nil, writeErr
	}
	if err != nil {
		return nil, fmt.Errorf("creating the floor's Mydemos: %w", err)
	}
	r := &FloorResult{
		Namespace:     floorNamespace,
		Workers:       e.flags.Workers,
		QPS:           e.flags.QPS,
		Burst:         e.flags.Burst,
		Requests:      3 * len(e.names),
		Seconds:       took.Seconds(),
		CreateSeconds: createTook.Seconds(),
		began:         begin,
	}
	r.RequestsPerSecond = float64(r.Requests) / r.Seconds
	e.cfg.Logf("floor: %d creates and %d writes in %s (creates done after %s)", len(e.names), r.Requests, took.Round(time.Millisecond), createTook.Round(time.Millisecond))
	return r, nil
}

// floorWrites sends the three writes that publish md, shaped like the
// controller's objects (labels, owner reference, one endpoint, one port).
func floorWrites(ctx context.Context, kube kubernetes.Interface, client versioned.Interface, md *crddemov1.Mydemo) error {
	owner := *metav1.NewControllerRef(md, crddemov1.SchemeGroupVersion.WithKind("Mydemo"))
	labels := map[string]string{controller.LabelManagedBy: controller.ManagedBy, controller.LabelMydemo: md.Name}
	opts := metav1.CreateOptions{FieldManager: controller.FieldManager}
	svc, err := kube.CoreV1().Services(md.Namespace).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: md.Name, Labels: labels, OwnerReferences: []metav1.OwnerReference{owner}},
		Spec: corev1.ServiceSpec{
			Type:           corev1.ServiceTypeClusterIP,
			IPFamilies:     []corev1.IPFamily{corev1.IPv4Protocol},
			IPFamilyPolicy: ptr.To(corev1.IPFamilyPolicySingleStack),
			Ports:          []corev1.ServicePort{{Protocol: corev1.ProtocolTCP, Port: md.Spec.Port, TargetPort: intstr.FromInt32(md.Spec.Port)}},
		},
	}, opts)
	if err != nil {
		return fmt.Errorf("floor: creating Service %s: %w", md.Name, err)
	}

	sliceLabels := map[string]string{
		controller.LabelManagedBy:    controller.ManagedBy,
		controller.LabelMydemo:       md.Name,
		discoveryv1.LabelServiceName: md.Name,
		discoveryv1.LabelManagedBy:   controller.EndpointSliceManagedBy,
	}
	_, err = kube.DiscoveryV1().EndpointSlices(md.Namespace).Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: md.Name + "-ipv4", Labels: sliceLabels, OwnerReferences: []metav1.OwnerReference{owner}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   floorEndpoints(md.Spec),
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To(""), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(md.Spec.Port)}},
	}, opts)
	if err != nil {
		return fmt.Errorf("floor: creating EndpointSlice %s-ipv4: %w", md.Name, err)
	}

	now := metav1.Now()
	endpoint := fmt.Sprintf("%v:%d", specAddresses(md.Spec), md.Spec.Port)
	cond := func(typ, reason, msg string, s metav1.ConditionStatus) metav1.Condition {
		return metav1.Condition{Type: typ, Status: s, ObservedGeneration: md.Generation, LastTransitionTime: now, Reason: reason, Message: msg}
	}
	updated := md.DeepCopy()
	updated.Status = crddemov1.MydemoStatus{
		ObservedGeneration: md.Generation,
		ServiceName:        md.Name,
		ClusterIP:          svc.Spec.ClusterIP,
		Conditions: []metav1.Condition{
			cond(crddemov1.ConditionPublished, "Published", fmt.Sprintf("Service %s/%s (cluster IP %s) routes to %s", md.Namespace, md.Name, svc.Spec.ClusterIP, endpoint), metav1.ConditionTrue),
			cond(crddemov1.ConditionReachable, "ProbeDisabled", "probe.type is None: the endpoint is not checked", metav1.ConditionUnknown),
			cond(crddemov1.ConditionReady, "Ready", fmt.Sprintf("the endpoint %s is ready (not probed)", endpoint), metav1.ConditionTrue),
		},
	}
	if _, err := client.CrddemoV1().Mydemos(md.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{FieldManager: controller.FieldManager}); err != nil {
		return fmt.Errorf("floor: updating the status of %s: %w", md.Name, err)
	}
	return nil
}

// floorSpec is the i-th Mydemo's spec for the floor: the same addresses,
// not probed.
func (e *env) floorSpec(i int) crddemov1.MydemoSpec {
	spec := crddemov1.MydemoSpec{Port: servePort, Probe: &crddemov1.Probe{Type: crddemov1.ProbeTypeNone}}
	e.addressSpec(i, &spec)
	return spec
}

// floorEndpoints are the ready endpoints of a spec's addresses.
func floorEndpoints(spec crddemov1.MydemoSpec) []discoveryv1.Endpoint {
	var out []discoveryv1.Endpoint
	for _, a := range specAddresses(spec) {
		out = append(out, discoveryv1.Endpoint{
			Addresses:  []string{a},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)},
		})
	}
	return out
}

// forEach calls fn for 0..n-1 from workers goroutines and returns the
// first error; after an error the remaining indexes are skipped.
func forEach(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for range min(workers, n) {
		wg.Go(func() {
			for i := range next {
				if err := fn(ctx, i); err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// createWithRetry retries a create that failed for a reason worth
// retrying (the API server was busy), a bounded number of times.
func createWithRetry[T any](ctx context.Context, create func() (T, error)) (T, error) {
	var (
		obj T
		err error
	)
	for attempt := range 5 {
		obj, err = create()
		if err == nil || !retriable(err) {
			return obj, err
		}
		select {
		case <-ctx.Done():
			return obj, ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 200 * time.Millisecond):
		}
	}
	return obj, err
}
