package node

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/generated/clientset/versioned"
	"github.com/crddemo/crddemo/test/framework"
	"github.com/crddemo/crddemo/test/servers"
)

// rolesNamespace is where TestRedisRolesThroughClusterIP installs the
// chart: a namespace of its own, so that it never waits for another
// test's to go.
const rolesNamespace = "crddemo-roles"

// writesInARow is how many writes in a row must get through the master
// Service before writing counts as working again: one write could follow
// a stale conntrack entry of an earlier connection (see measureReject),
// five in a row cannot.
const writesInARow = 5

// TestRedisRolesThroughClusterIP: a Mydemo with roles master and replica
// (probe.redis.role) over two real redis-servers, a master A and its
// replica B, under the controller running as a Pod. A client on the node
// writing with redis-cli through the ClusterIP of <mydemo>-master reaches
// A. B is promoted: while both are masters the role keeps A (RoleConflict)
// and every write still reaches A, none B. A is then demoted to a replica
// of B: writes fail (A answers READONLY) until the role's probe has failed
// A and kube-proxy routes the master Service to B. The test measures that
// gap and holds it to the role probe's timing plus the usual second of
// slack.
func TestRedisRolesThroughClusterIP(t *testing.T) {
	cp := framework.Get()
	node := cp.Node()
	cs := kubernetes.NewForConfigOrDie(cp.Config)
	crd := versioned.NewForConfigOrDie(cp.Config)
	ctx := context.Background()
	redisCLI := lookRedisCLI(t)

	installChart(t, cs, rolesNamespace)

	host := newHost(t, ctx, node)
	a := servers.StartRedis(t, host, host.Addr(1), servers.RedisOptions{})
	b := servers.StartRedis(t, host, host.Addr(2), servers.RedisOptions{ReplicaOf: a.Addr})
	addrA, addrB := a.Addr.Addr().String(), b.Addr.Addr().String()

	redisProbe := func(role crddemov1.RedisRole) *crddemov1.Probe {
		return &crddemov1.Probe{
			Type:             crddemov1.ProbeTypeRedis,
			Redis:            &crddemov1.RedisProbe{Role: role},
			PeriodSeconds:    int32(probePeriod / time.Second),
			TimeoutSeconds:   1,
			FailureThreshold: failureThreshold,
		}
	}
	one := int32(1)
	ns := framework.CreateNamespace(t, cs)
	md := &crddemov1.Mydemo{
		ObjectMeta: metav1.ObjectMeta{Name: "cache", Namespace: ns},
		Spec: crddemov1.MydemoSpec{
			Endpoints: []crddemov1.Endpoint{{IP: addrA}, {IP: addrB}},
			Ports:     []crddemov1.Port{{Name: "redis", Port: servers.RedisPort}},
			// The Mydemo's own probe passes on either role: both servers
			// stay in the Mydemo's Service throughout.
			Probe: redisProbe(""),
			Roles: []crddemov1.Role{
				{Name: "master", Probe: *redisProbe(crddemov1.RedisRoleMaster), MaxEndpoints: &one},
				{Name: "replica", Probe: *redisProbe(crddemov1.RedisRoleReplica)},
			},
		},
	}
	created, err := crd.CrddemoV1().Mydemos(ns).Create(ctx, md, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create Mydemo: %v", err)
	}
	// The bound comes from the master role's probe as stored, defaults
	// filled in: after A is demoted, its next probe fails within one
	// period (moved by up to period/20 of jitter), and the failures that
	// confirm it follow at the edge interval when it is shorter than the
	// period, else at the period. B already passes (the role was in
	// conflict), so the sync that drops A publishes B in the same slice
	// write; slack covers that write, kube-proxy's sync (minSyncPeriod 0
	// on the test node) and a busy machine.
	mp := created.Spec.Roles[0].Probe
	period := seconds(mp.PeriodSeconds)
	confirm := period
	if edge := seconds(mp.EdgeIntervalSeconds); edge > 0 && edge < period {
		confirm = edge
	}
	bound := period + period/20 + time.Duration(mp.FailureThreshold-1)*(confirm+confirm/20) + slack
	t.Logf("master role probe: period %s, confirmations every %s, failure threshold %d: writes must get through again within %s of the demotion",
		period, confirm, mp.FailureThreshold, bound)

	waitRoles(t, crd, ns, md.Name, "master="+addrA+" replica="+addrB)
	svc, err := cs.CoreV1().Services(ns).Get(ctx, md.Name+"-master", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the master role's Service: %v", err)
	}
	clusterIP := svc.Spec.ClusterIP
	port := strconv.Itoa(servers.RedisPort)

	// cli runs one redis-cli command against the master Service's
	// ClusterIP from inside the node's network namespace, as a Pod's
	// client would, each time on a new connection. redis-cli exits 0 on
	// an error reply too: the reply is the verdict.
	cli := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		args = append([]string{"--net=" + node.NetNS, redisCLI, "-h", clusterIP, "-p", port}, args...)
		out, err := exec.CommandContext(ctx, "nsenter", args...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	// write sets the key written; "OK" is the only success.
	write := func(value string) (bool, string) {
		reply, err := cli("SET", "written", value)
		return err == nil && reply == "OK", fmt.Sprintf("%q %v", reply, err)
	}
	// holds checks that the value last written is on server r.
	holds := func(r *servers.Redis, value string) {
		t.Helper()
		got, err := r.Do(ctx, "GET", "written")
		if err != nil || got != value {
			t.Fatalf("GET written on %s: %#v %v, want %q", r.Addr, got, err, value)
		}
	}

	framework.Eventually(t, converge, "a write through "+clusterIP, func() (bool, string) {
		return write("before")
	})
	holds(a, "before")

	// Two masters: the role keeps the one it publishes and takes in
	// none, so writes still reach A.
	if _, err := b.Do(ctx, "REPLICAOF", "NO", "ONE"); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, converge, "role master in conflict, keeping "+addrA, func() (bool, string) {
		got, err := crd.CrddemoV1().Mydemos(ns).Get(ctx, md.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, r := range got.Status.Roles {
			if r.Name == "master" {
				return r.Reason == crddemov1.RoleConflict && r.Passing == 2 && slices.Equal(r.Endpoints, []string{addrA}),
					fmt.Sprintf("%+v", r)
			}
		}
		return false, fmt.Sprintf("roles %+v", got.Status.Roles)
	})
	// B takes writes too now, so a write routed to it would succeed:
	// a counter tells where each one went. Every increment must find
	// A's count, and B must have none.
	const conflictWrites = 20
	for i := 1; i <= conflictWrites; i++ {
		reply, err := cli("INCR", "during-conflict")
		if err != nil || reply != strconv.Itoa(i) {
			t.Fatalf("write %d through %s while the role is in conflict: %q %v, want %d", i, clusterIP, reply, err, i)
		}
	}
	if got, err := a.Do(ctx, "GET", "during-conflict"); err != nil || got != strconv.Itoa(conflictWrites) {
		t.Fatalf("GET during-conflict on %s: %#v %v, want %d", a.Addr, got, err, conflictWrites)
	}
	if got, err := b.Do(ctx, "GET", "during-conflict"); err != nil || got != nil {
		t.Fatalf("GET during-conflict on %s: %#v %v: a write during the conflict reached the second master", b.Addr, got, err)
	}

	// A steps down. From here every write fails until the master
	// Service routes to B.
	if _, err := a.Do(ctx, "REPLICAOF", addrB, port); err != nil {
		t.Fatal(err)
	}
	demoted := time.Now()
	var (
		tries, failures, inARow  int
		lastFailure, lastWritten string
		streakStart              time.Duration
		// failedWith counts the failures by reply: READONLY says a
		// write reached the old master, a refusal that it reached
		// none.
		failedWith = map[string]int{}
	)
	for inARow < writesInARow {
		since := time.Since(demoted)
		if since > bound+converge {
			t.Fatalf("writes through %s still failing %s after the demotion (%d of %d failed, the last with %s)", clusterIP, since, failures, tries, lastFailure)
		}
		tries++
		value := "after-" + strconv.Itoa(tries)
		ok, why := write(value)
		if !ok {
			failures++
			failedWith[why]++
			inARow, lastFailure = 0, why
			continue
		}
		if inARow == 0 {
			streakStart = since
		}
		inARow++
		lastWritten = value
	}
	t.Logf("MEASURE writes through the master Service failed for %s after the demotion (bound %s): %d of %d writes failed, by reply: %v",
		streakStart.Round(time.Millisecond), bound, failures, tries, failedWith)
	if streakStart > bound {
		t.Errorf("writes got through again %s after the demotion, want within %s", streakStart, bound)
	}
	if failures == 0 {
		t.Errorf("no write failed after %s stepped down: the measurement saw no gap to measure", addrA)
	}
	holds(b, lastWritten)
	waitRoles(t, crd, ns, md.Name, "master="+addrB+" replica="+addrA)
}

// waitRoles waits until the Mydemo's roleSummary (the Roles column of
// kubectl get md) is want.
func waitRoles(t *testing.T, crd versioned.Interface, ns, name, want string) {
	t.Helper()
	framework.Eventually(t, converge, "Mydemo "+ns+"/"+name+" roles "+strconv.Quote(want), func() (bool, string) {
		md, err := crd.CrddemoV1().Mydemos(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return md.Status.RoleSummary == want, fmt.Sprintf("roleSummary %q roles %+v", md.Status.RoleSummary, md.Status.Roles)
	})
}
