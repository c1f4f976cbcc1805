//go:build linux

package integration

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/controller"
	"github.com/crddemo/crddemo/test/servers"
	"github.com/crddemo/crddemo/test/testhost"
)

// roleFollowBound is how long a bounded role's Service may take to
// follow its endpoint from one server to another after the old one stops
// passing the role's probe: failureThreshold periods for the old one to
// fail, one more period (successThreshold = 1 here) for the phase of the
// first probe after the change, and a margin of 1 s for the sync and the
// slice write (issue 22: "period × threshold + 1 s").
func roleFollowBound(p crddemov1.Probe) time.Duration {
	period := time.Duration(p.PeriodSeconds) * time.Second
	return period*time.Duration(p.FailureThreshold+p.SuccessThreshold) + time.Second
}

// TestRoleRedisSwap: a Redis primary and its replica (Debian's
// redis-server, at two addresses of a test host) behind one Mydemo with
// roles master (maxEndpoints 1) and replica. The -master and -replica
// Services publish one each, with status.roles, status.endpoints[].roles
// and roleSummary to match. Then a failover as Sentinel does it: the
// replica is promoted (REPLICAOF NO ONE), so two masters pass and the
// role keeps the one it has (RoleConflict, a Warning); the old master is
// demoted (REPLICAOF the new one), and the -master slice follows within
// roleFollowBound. A watch started before the swap never shows the
// -master slice with two endpoints, the move costs one -master slice
// write and one RoleChanged Event for master, and at rest nothing is
// written.
func TestRoleRedisSwap(t *testing.T) {
	// One test host, two addresses: the replica must reach its master,
	// and test hosts reach the machine, not each other.
	host := testhost.Require(t)
	ra := servers.StartRedis(t, host, host.Addr(1), servers.RedisOptions{})
	rb := servers.StartRedis(t, host, host.Addr(2), servers.RedisOptions{ReplicaOf: ra.Addr})
	a, b := ra.Addr.Addr().String(), rb.Addr.Addr().String()

	e := newEnv(t)
	rc := e.startController()
	roleProbe := func(role crddemov1.RedisRole) crddemov1.Probe {
		p := *appProbe(crddemov1.ProbeTypeRedis)
		p.Redis = &crddemov1.RedisProbe{Role: role}
		return p
	}
	master := crddemov1.Role{Name: "master", Probe: roleProbe(crddemov1.RedisRoleMaster), MaxEndpoints: ptr.To[int32](1)}
	e.createMydemo("cache", crddemov1.MydemoSpec{
		Endpoints: []crddemov1.Endpoint{{IP: a}, {IP: b}},
		Port:      servers.RedisPort,
		Probe:     appProbe(crddemov1.ProbeTypeRedis),
		Roles:     []crddemov1.Role{master, {Name: "replica", Probe: roleProbe(crddemov1.RedisRoleReplica)}},
	})

	e.waitRole("cache", "master", crddemov1.RoleReady, converge, a)
	md := e.waitRole("cache", "replica", crddemov1.RoleReady, converge, b)
	if got := endpointRoles(md); !slices.Equal(got[a], []string{"master"}) || !slices.Equal(got[b], []string{"replica"}) {
		t.Errorf("status.endpoints[].roles = %v, want %s: [master], %s: [replica]", got, a, b)
	}
	if want := "master=" + a + " replica=" + b; md.Status.RoleSummary != want {
		t.Errorf("roleSummary %q, want %q", md.Status.RoleSummary, want)
	}
	if rs := roleStatus(md, "master"); rs.ServiceName != "cache-master" || rs.Passing != 1 {
		t.Errorf("status.roles[master] = %+v, want serviceName cache-master, passing 1", rs)
	}
	e.serviceReady("cache-master", "master", converge, a)
	e.serviceReady("cache-replica", "replica", converge, b)
	e.serviceReady("cache", "", converge, a, b)
	for _, svc := range []string{"cache-master", "cache-replica"} {
		if _, err := e.getService(svc); err != nil {
			t.Errorf("role Service %s: %v", svc, err)
		}
	}

	masterSlices := e.recordSlices("cache-master", 1)
	replicaSlices := e.recordSlices("cache-replica", -1)
	movedBefore, _ := e.roleEventsSaying("cache", corev1.EventTypeNormal, controller.ReasonRoleChanged, "role master")
	ctx := context.Background()

	// Promotion: two masters pass; the role keeps the one it has.
	swapStart := time.Now()
	if _, err := rb.Do(ctx, "REPLICAOF", "NO", "ONE"); err != nil {
		t.Fatal(err)
	}
	md = e.waitRole("cache", "master", crddemov1.RoleConflict, roleFollowBound(master.Probe)+converge, a)
	if rs := roleStatus(md, "master"); rs.Passing != 2 {
		t.Errorf("in conflict: status.roles[master].passing = %d, want 2", rs.Passing)
	}
	e.warningSaying("cache", controller.ReasonRoleConflict, "role master", converge)

	// Demotion: the old master follows the new one.
	demoted := time.Now()
	if _, err := ra.Do(ctx, "REPLICAOF", b, strconv.Itoa(servers.RedisPort)); err != nil {
		t.Fatal(err)
	}
	bound := roleFollowBound(master.Probe)
	e.eventually(bound+converge, "the -master slice holding "+b, func() (bool, string) {
		_, ok := masterSlices.firstShowing(demoted, b)
		return ok, masterSlices.String()
	})
	at, _ := masterSlices.firstShowing(demoted, b)
	took := at.Sub(demoted)
	t.Logf("the -master slice followed the demotion in %v (bound %v)", took, bound)
	if took > bound {
		t.Errorf("the -master slice followed in %v, more than the bound %v", took, bound)
	}

	e.waitRole("cache", "master", crddemov1.RoleReady, converge, b)
	md = e.waitRole("cache", "replica", crddemov1.RoleReady, converge, a)
	if want := "master=" + b + " replica=" + a; md.Status.RoleSummary != want {
		t.Errorf("after the swap: roleSummary %q, want %q", md.Status.RoleSummary, want)
	}
	e.serviceReady("cache-master", "master", converge, b)
	e.serviceReady("cache-replica", "replica", converge, a)
	const moved = "role master moved from "
	e.eventually(converge, "a RoleChanged Event saying the master moved", func() (bool, string) {
		n, msgs := e.roleEventsSaying("cache", corev1.EventTypeNormal, controller.ReasonRoleChanged, moved+a+" to "+b)
		return n > 0, slices.Concat(msgs, []string{""})[0]
	})

	// At rest: probes go on, nothing is written. Three periods of the
	// role probes.
	writes := rc.counter.writes()
	time.Sleep(3 * time.Duration(master.Probe.PeriodSeconds) * time.Second)
	if w := rc.counter.writes() - writes; w != 0 {
		t.Errorf("%d writes at rest after the swap (by method: %v)", w, rc.counter.snapshot())
	}

	if n := masterSlices.writes(swapStart); n != 1 {
		t.Errorf("the swap wrote the -master slice %d times, want 1:%s", n, masterSlices)
	}
	// The replica role loses one server and gains the other: at most one
	// write each.
	if n := replicaSlices.writes(swapStart); n < 1 || n > 2 {
		t.Errorf("the swap wrote the -replica slice %d times, want 1 or 2:%s", n, replicaSlices)
	}
	n, msgs := e.roleEventsSaying("cache", corev1.EventTypeNormal, controller.ReasonRoleChanged, "role master")
	if n-movedBefore != 1 {
		t.Errorf("%d RoleChanged Events about the master during the swap, want 1: %v", n-movedBefore, msgs)
	}
	if bad := masterSlices.stop(); bad != 0 {
		t.Errorf("%d -master slice events with two endpoints:%s", bad, masterSlices)
	}
	replicaSlices.stop()
}

// patroni is a set of test hosts, each answering HTTP on patroniPort as
// Patroni's REST API does: /primary 200 on the hosts that are primary,
// 503 on the others; and accepting TCP connections on the published
// port.
type patroni struct {
	hosts   []*testhost.Host
	primary []atomic.Bool
}

const (
	patroniPort  = 8008
	postgresPort = 5432
)

func startPatroni(t *testing.T, n int) *patroni {
	t.Helper()
	p := &patroni{primary: make([]atomic.Bool, n)}
	for i := range n {
		h := testhost.Require(t)
		if err := h.Serve(postgresPort); err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.URL.Path != "/primary":
				http.NotFound(w, r)
			case p.primary[i].Load():
				w.WriteHeader(http.StatusOK)
			default:
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		}), ReadHeaderTimeout: 5 * time.Second}
		serveOnHost(t, h, patroniPort, srv.Serve, func() { _ = srv.Close() })
		p.hosts = append(p.hosts, h)
	}
	return p
}

func (p *patroni) addr(i int) string { return p.hosts[i].Addr(1).String() }

// spec is a Mydemo of every host on postgresPort (TCP probe) with a role
// primary probed on /primary at patroniPort, a port it does not publish.
func (p *patroni) spec(maxEndpoints *int32) (crddemov1.MydemoSpec, crddemov1.Role) {
	rp := *appProbe(crddemov1.ProbeTypeHTTP)
	rp.Port = ptr.To(intstr.FromInt32(patroniPort))
	rp.HTTP = &crddemov1.HTTPProbe{Path: "/primary"}
	role := crddemov1.Role{Name: "primary", Probe: rp, MaxEndpoints: maxEndpoints}
	spec := crddemov1.MydemoSpec{Port: postgresPort, Probe: appProbe(crddemov1.ProbeTypeTCP), Roles: []crddemov1.Role{role}}
	for i := range p.hosts {
		spec.Endpoints = append(spec.Endpoints, crddemov1.Endpoint{IP: p.addr(i)})
	}
	return spec, role
}

// TestRoleHTTPFollowsPrimary: a role (maxEndpoints 1) probed over HTTP on
// a port the Mydemo does not publish, as Patroni answers /primary on 8008,
// publishes the host that answers 200 and not the ones that answer 503;
// when the 200 moves to another host, the -primary slice follows within
// roleFollowBound, never holding both, and the Mydemo's own Service keeps
// every host.
func TestRoleHTTPFollowsPrimary(t *testing.T) {
	p := startPatroni(t, 3)
	p.primary[0].Store(true)

	e := newEnv(t)
	e.startController()
	// The primary takes writes: one at a time.
	spec, role := p.spec(ptr.To[int32](1))
	e.createMydemo("pg", spec)
	e.waitRole("pg", "primary", crddemov1.RoleReady, converge, p.addr(0))
	e.serviceReady("pg-primary", "primary", converge, p.addr(0))
	e.serviceReady("pg", "", converge, p.addr(0), p.addr(1), p.addr(2))

	rec := e.recordSlices("pg-primary", 1)
	moved := time.Now()
	p.primary[0].Store(false)
	p.primary[2].Store(true)
	bound := roleFollowBound(role.Probe)
	e.eventually(bound+converge, "the -primary slice holding "+p.addr(2), func() (bool, string) {
		_, ok := rec.firstShowing(moved, p.addr(2))
		return ok, rec.String()
	})
	at, _ := rec.firstShowing(moved, p.addr(2))
	t.Logf("the -primary slice followed in %v (bound %v)", at.Sub(moved), bound)
	if took := at.Sub(moved); took > bound {
		t.Errorf("the -primary slice followed in %v, more than the bound %v", took, bound)
	}
	md := e.waitRole("pg", "primary", crddemov1.RoleReady, converge, p.addr(2))
	if got := endpointRoles(md); len(got[p.addr(0)]) != 0 || !slices.Equal(got[p.addr(2)], []string{"primary"}) {
		t.Errorf("status.endpoints[].roles = %v, want only %s in primary", got, p.addr(2))
	}
	e.serviceReady("pg", "", converge, p.addr(0), p.addr(1), p.addr(2))
	e.eventually(converge, "a RoleChanged Event", func() (bool, string) {
		n, msgs := e.roleEventsSaying("pg", corev1.EventTypeNormal, controller.ReasonRoleChanged, "role primary")
		return n > 0, slices.Concat(msgs, []string{""})[0]
	})
	rec.stop()
}

// TestRoleConflictSingleWriter: with maxEndpoints 1 and hosts that
// all say they are primary, the role keeps the one it publishes and says
// RoleConflict, with a Warning, and writes nothing; when that one fails
// and one other passes, the other takes over; when it fails while two
// others pass, the role holds none and publishes none. A watch on the
// -primary slice never shows two endpoints.
func TestRoleConflictSingleWriter(t *testing.T) {
	p := startPatroni(t, 3)
	p.primary[0].Store(true)

	e := newEnv(t)
	e.startController()
	spec, role := p.spec(ptr.To[int32](1))
	e.createMydemo("pg", spec)
	e.waitRole("pg", "primary", crddemov1.RoleReady, converge, p.addr(0))
	e.serviceReady("pg-primary", "primary", converge, p.addr(0))
	rec := e.recordSlices("pg-primary", 1)
	bound := roleFollowBound(role.Probe)

	// Split brain: a second host answers 200; the role keeps the one it
	// has.
	conflict := time.Now()
	p.primary[1].Store(true)
	md := e.waitRole("pg", "primary", crddemov1.RoleConflict, bound+converge, p.addr(0))
	if rs := roleStatus(md, "primary"); rs.Passing != 2 {
		t.Errorf("in conflict: passing %d, want 2", rs.Passing)
	}
	e.warningSaying("pg", controller.ReasonRoleConflict, "role primary", converge)
	e.serviceReady("pg-primary", "primary", converge, p.addr(0))
	if n := rec.writes(conflict); n != 0 {
		t.Errorf("the conflict wrote the -primary slice %d times, want none:%s", n, rec)
	}

	// The one it had fails: the other takes over.
	failed := time.Now()
	p.primary[0].Store(false)
	e.eventually(bound+converge, "the -primary slice holding "+p.addr(1), func() (bool, string) {
		_, ok := rec.firstShowing(failed, p.addr(1))
		return ok, rec.String()
	})
	if at, _ := rec.firstShowing(failed, p.addr(1)); at.Sub(failed) > bound {
		t.Errorf("the -primary slice followed in %v, more than the bound %v", at.Sub(failed), bound)
	}
	e.waitRole("pg", "primary", crddemov1.RoleReady, converge, p.addr(1))

	// Two others pass while it holds one; then the one it holds fails:
	// none held, two pass, none published.
	p.primary[0].Store(true)
	p.primary[2].Store(true)
	e.eventually(bound+converge, "three hosts passing the role's probe", func() (bool, string) {
		rs := roleStatus(e.getMydemo("pg"), "primary")
		return rs.Passing == 3 && rs.Reason == crddemov1.RoleConflict && slices.Equal(rs.Endpoints, []string{p.addr(1)}), fmt.Sprintf("%+v", rs)
	})
	gone := time.Now()
	p.primary[1].Store(false)
	md = e.waitRole("pg", "primary", crddemov1.RoleConflict, bound+converge)
	if rs := roleStatus(md, "primary"); rs.Passing != 2 || rs.Ready != 0 {
		t.Errorf("two pass, none held: ready %d passing %d, want 0 and 2", rs.Ready, rs.Passing)
	}
	if want := "primary=conflict"; md.Status.RoleSummary != want {
		t.Errorf("roleSummary %q, want %q", md.Status.RoleSummary, want)
	}
	e.serviceReady("pg-primary", "primary", converge)
	if n := rec.writes(gone); n != 1 {
		t.Errorf("losing the one it held wrote the -primary slice %d times, want 1:%s", n, rec)
	}

	// One of the two stops passing: the other is taken in.
	p.primary[2].Store(false)
	e.waitRole("pg", "primary", crddemov1.RoleReady, bound+converge, p.addr(0))
	e.serviceReady("pg-primary", "primary", converge, p.addr(0))
	if bad := rec.stop(); bad != 0 {
		t.Errorf("%d -primary slice events with two endpoints:%s", bad, rec)
	}
}
