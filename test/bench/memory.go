package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
)

// MemoryResult compares the controller's resident memory at N with the same
// after Foreign Services and Foreign EndpointSlices that are not its own
// were added to the namespace it watches.
type MemoryResult struct {
	RSSBeforeBytes int64   `json:"rss_before_bytes"`
	RSSAfterBytes  int64   `json:"rss_after_bytes"`
	DeltaPercent   float64 `json:"delta_percent"`
	// Heap*Bytes are go_memstats_heap_inuse_bytes, when exposed.
	HeapBeforeBytes int64 `json:"heap_before_bytes,omitempty"`
	HeapAfterBytes  int64 `json:"heap_after_bytes,omitempty"`

	ForeignServices       int     `json:"foreign_services"`
	ForeignEndpointSlices int     `json:"foreign_endpointslices"`
	ForeignNamespace      string  `json:"foreign_namespace"`
	ServiceKind           string  `json:"service_kind"`
	CreateSeconds         float64 `json:"create_seconds"`
	QuietSeconds          float64 `json:"quiet_seconds"`
	// ControllerRequests are the controller's requests while the foreign
	// objects were created and settled.
	ControllerRequests map[string]int64 `json:"controller_requests"`
	// FatMydemos Mydemos with FatAnnotationBytes of annotations each were
	// added after that (probing off); RSSFatBytes is the RSS then.
	FatMydemos         int   `json:"fat_mydemos,omitempty"`
	FatAnnotationBytes int   `json:"fat_annotation_bytes,omitempty"`
	RSSFatBytes        int64 `json:"rss_fat_bytes,omitempty"`
}

// fatAnnotationBytes is the annotation size of a fat Mydemo: close to the
// API server's 256 KiB limit on all annotations of an object.
const fatAnnotationBytes = 250 << 10

// runMemory samples RSS after a quiet period, adds the foreign objects,
// waits again and samples once more.
//
// The foreign objects go into the controller's own namespace: with
// --namespace the controller's watches are namespace-scoped, so objects in
// another namespace would be filtered out by the namespace alone and the
// label filter would not be tested at all. They carry no managed-by label.
// The Services are headless (clusterIP: None), so creating them allocates
// no cluster IP; they are still Services an unfiltered informer would
// cache. The EndpointSlices' addresses are taken from the test host's
// subnet; the controller never dials EndpointSlice addresses.
func runMemory(ctx context.Context, e *env, res *Results) error {
	r := &MemoryResult{
		ForeignServices:       e.cfg.Foreign,
		ForeignEndpointSlices: e.cfg.Foreign,
		ForeignNamespace:      benchNamespace,
		ServiceKind:           "headless (clusterIP: None), selector-less",
		QuietSeconds:          e.cfg.Quiet.Seconds(),
	}
	res.Memory = r
	if err := sleepCtx(ctx, e.cfg.Quiet); err != nil {
		return err
	}
	before, err := scrape(ctx, e.ctrl)
	if err != nil {
		return err
	}
	if r.RSSBeforeBytes, err = medianRSS(ctx, e.ctrl.PID()); err != nil {
		return err
	}
	if before.hasHeapStat {
		r.HeapBeforeBytes = int64(before.heapInuse)
	}
	e.cfg.Logf("RSS at N: %.1f MiB; creating %d foreign Services and %d foreign EndpointSlices", mib(r.RSSBeforeBytes), e.cfg.Foreign, e.cfg.Foreign)

	begin := time.Now()
	err = forEach(ctx, 2*e.cfg.Foreign, createConcurrency, func(ctx context.Context, j int) error {
		i := j / 2
		name := fmt.Sprintf("foreign-%05d", i)
		labels := map[string]string{"app": "foreign"}
		if j%2 == 0 {
			_, err := createWithRetry(ctx, func() (*corev1.Service, error) {
				return e.kube.CoreV1().Services(benchNamespace).Create(ctx, &corev1.Service{
					ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
					Spec: corev1.ServiceSpec{
						ClusterIP: corev1.ClusterIPNone,
						Ports:     []corev1.ServicePort{{Protocol: corev1.ProtocolTCP, Port: 80}},
					},
				}, metav1.CreateOptions{})
			})
			return err
		}
		_, err := createWithRetry(ctx, func() (*discoveryv1.EndpointSlice, error) {
			return e.kube.DiscoveryV1().EndpointSlices(benchNamespace).Create(ctx, &discoveryv1.EndpointSlice{
				ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
					"app": "foreign", discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: "bench.crddemo.k8s.io",
				}},
				AddressType: discoveryv1.AddressTypeIPv4,
				Endpoints: []discoveryv1.Endpoint{{
					Addresses:  []string{e.host.Addr(i%len(e.names) + 1).String()},
					Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
				}},
				Ports: []discoveryv1.EndpointPort{{Name: ptr.To(""), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To[int32](80)}},
			}, metav1.CreateOptions{})
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("creating foreign objects: %w", err)
	}
	r.CreateSeconds = time.Since(begin).Seconds()
	e.cfg.Logf("created %d foreign objects in %.1fs", 2*e.cfg.Foreign, r.CreateSeconds)

	if err := sleepCtx(ctx, e.cfg.Quiet); err != nil {
		return err
	}
	after, err := scrape(ctx, e.ctrl)
	if err != nil {
		return err
	}
	if r.RSSAfterBytes, err = medianRSS(ctx, e.ctrl.PID()); err != nil {
		return err
	}
	if after.hasHeapStat {
		r.HeapAfterBytes = int64(after.heapInuse)
	}
	r.DeltaPercent = 100 * float64(r.RSSAfterBytes-r.RSSBeforeBytes) / float64(r.RSSBeforeBytes)
	r.ControllerRequests = diffMap(before.byMethod, after.byMethod)
	e.cfg.Logf("RSS with foreign objects: %.1f MiB (%+.1f%%)", mib(r.RSSAfterBytes), r.DeltaPercent)
	if e.cfg.Fat > 0 {
		return runFat(ctx, e, r)
	}
	return nil
}

// runFat adds Mydemos with annotations near the API server's limit, as a
// hostile or careless tenant could, and samples RSS once more: the
// controller's cache drops annotations, so they must cost next to nothing.
func runFat(ctx context.Context, e *env, r *MemoryResult) error {
	r.FatMydemos, r.FatAnnotationBytes = e.cfg.Fat, fatAnnotationBytes
	blob := strings.Repeat("x", fatAnnotationBytes)
	e.cfg.Logf("creating %d Mydemos with %d KiB of annotations each", e.cfg.Fat, fatAnnotationBytes>>10)
	err := forEach(ctx, e.cfg.Fat, 8, func(ctx context.Context, i int) error {
		spec := crddemov1.MydemoSpec{Port: servePort, Probe: &crddemov1.Probe{Type: crddemov1.ProbeTypeNone}}
		e.addressSpec(i, &spec)
		_, err := createWithRetry(ctx, func() (*crddemov1.Mydemo, error) {
			return e.client.CrddemoV1().Mydemos(benchNamespace).Create(ctx, &crddemov1.Mydemo{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("fat-%04d", i), Annotations: map[string]string{"bench.crddemo.k8s.io/blob": blob}},
				Spec:       spec,
			}, metav1.CreateOptions{})
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("creating fat Mydemos: %w", err)
	}
	if err := sleepCtx(ctx, e.cfg.Quiet); err != nil {
		return err
	}
	if r.RSSFatBytes, err = medianRSS(ctx, e.ctrl.PID()); err != nil {
		return err
	}
	if !e.ctrl.Running() {
		return fmt.Errorf("the controller exited after %d fat Mydemos", e.cfg.Fat)
	}
	e.cfg.Logf("RSS with %d fat Mydemos: %.1f MiB", e.cfg.Fat, mib(r.RSSFatBytes))
	return nil
}

// medianRSS samples RSS three times, a second apart, and returns the
// median, so one sample taken during a GC cycle does not decide.
func medianRSS(ctx context.Context, pid int) (int64, error) {
	var samples []int64
	for i := range 3 {
		if i > 0 {
			if err := sleepCtx(ctx, time.Second); err != nil {
				return 0, err
			}
		}
		v, err := rssBytes(pid)
		if err != nil {
			return 0, err
		}
		samples = append(samples, v)
	}
	sort.Slice(samples, func(a, b int) bool { return samples[a] < samples[b] })
	return samples[1], nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
