package node

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/generated/clientset/versioned"
	"github.com/crddemo/crddemo/test/framework"
	"github.com/crddemo/crddemo/test/testhost"
)

// seconds converts a probe field in seconds to a Duration.
func seconds(s int32) time.Duration { return time.Duration(s) * time.Second }

// testDefaultProbeEdgeInterval measures the data plane with the default
// probe settings (period 10 s, edge interval 1 s, timeout 1 s, thresholds
// 3 and 1), none of them written in the Mydemo: after the first failed
// probe the engine confirms at the edge interval, so kube-proxy rejects
// new connections to a refusing target within
// period + (failureThreshold − 1) × edge + 1 s instead of
// period × failureThreshold + 1 s, routes them again within
// period + (successThreshold − 1) × edge + 1 s, and a black-holed target
// adds the timeout of each failing probe. The 1 s of slack is the one the
// other data-plane cases allow (the slice write, kube-proxy's sync, a busy
// machine); it also covers the period's jitter (±5 %, so ±0.5 s).
func testDefaultProbeEdgeInterval(t *testing.T, crd versioned.Interface, node *framework.Node, host *testhost.Host, ns string) {
	// A port of its own, so that stopping its server leaves the other
	// cases' servers alone.
	const port = 8083
	if err := host.Serve(port); err != nil {
		t.Fatal(err)
	}
	md := &crddemov1.Mydemo{
		ObjectMeta: metav1.ObjectMeta{Name: "defaults", Namespace: ns},
		Spec: crddemov1.MydemoSpec{
			IP:    host.Addr(4).String(),
			Port:  port,
			Probe: &crddemov1.Probe{Type: crddemov1.ProbeTypeTCP},
		},
	}
	ctx := context.Background()
	created, err := crd.CrddemoV1().Mydemos(ns).Create(ctx, md, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create Mydemo: %v", err)
	}
	// The API server filled in the defaults: the bounds below are the
	// ones of the settings the controller actually probes with.
	p := created.Spec.Probe
	want := crddemov1.Probe{
		Type:                crddemov1.ProbeTypeTCP,
		PeriodSeconds:       crddemov1.DefaultProbePeriodSeconds,
		EdgeIntervalSeconds: crddemov1.DefaultProbeEdgeIntervalSeconds,
		TimeoutSeconds:      crddemov1.DefaultProbeTimeoutSeconds,
		SuccessThreshold:    crddemov1.DefaultProbeSuccessThreshold,
		FailureThreshold:    crddemov1.DefaultProbeFailureThreshold,
	}
	if p.PeriodSeconds != want.PeriodSeconds || p.EdgeIntervalSeconds != want.EdgeIntervalSeconds ||
		p.TimeoutSeconds != want.TimeoutSeconds || p.SuccessThreshold != want.SuccessThreshold ||
		p.FailureThreshold != want.FailureThreshold {
		t.Fatalf("stored probe %+v, want the defaults %+v", *p, want)
	}
	period := seconds(p.PeriodSeconds)
	edge := seconds(p.EdgeIntervalSeconds)
	timeout := seconds(p.TimeoutSeconds)
	failures := time.Duration(p.FailureThreshold)
	successes := time.Duration(p.SuccessThreshold)
	// At a 10 s period the engine moves each probe by up to period/20
	// (pkg/probe maxPeriodJitter): 0.5 s that the bounds leave
	// inside the one second of slack; it is added here so that the slack
	// stays kube-proxy's and the busy machine's.
	jitter := period / 20
	refusedBound := period + jitter + (failures-1)*edge + slack
	blackHoledBound := refusedBound + failures*timeout
	recoverBound := period + jitter + (successes-1)*edge + slack
	t.Logf("bounds with the default probe settings: rejected within %s (refusing), %s (black-holed); routed again within %s; without the edge interval the refusing bound would be %s",
		refusedBound, blackHoledBound, recoverBound, period*failures+slack)

	clusterIP := waitMydemoReady(t, crd, ns, md.Name)
	target := net.JoinHostPort(clusterIP, strconv.Itoa(port))
	framework.Eventually(t, converge, "a connection to "+target+" from the node", func() (bool, string) {
		err := dialOnce(node, "tcp4", target)
		return err == nil, fmt.Sprint(err)
	})

	t.Run("Refusing", func(t *testing.T) {
		refuse, answer := refusing(t, host, port)
		measureReject(t, node, target, refusedBound, recoverBound, refuse, answer)
	})
	t.Run("BlackHoled", func(t *testing.T) {
		measureReject(t, node, target, blackHoledBound, recoverBound, host.BlackHole, host.Restore)
	})
}
