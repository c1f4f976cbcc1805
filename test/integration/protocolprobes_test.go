//go:build linux

package integration

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/controller"
	"github.com/crddemo/crddemo/test/servers"
	"github.com/crddemo/crddemo/test/testhost"
)

// maxProbeMessage is the bound on a probe's message (docs/probes.md,
// "Messages").
const maxProbeMessage = 256

// TestRedisProbeFollowsServer: a Redis Mydemo whose endpoint is a real
// redis-server, on the real control plane, is Ready while the server
// answers PONG, goes Unreachable when it stops, and is Ready when it
// returns; a server that answers with an error (here, one that requires
// a password the probe never sends) is Unreachable with the server's
// words in the endpoint's status, the Reachable condition and the
// Warning Event.
func TestRedisProbeFollowsServer(t *testing.T) {
	t.Parallel()
	host := testhost.Require(t)
	r := servers.StartRedis(t, host, host.Addr(1), servers.RedisOptions{})

	e := newEnv(t)
	e.startController()
	p := appProbe(crddemov1.ProbeTypeRedis)
	p.Redis = &crddemov1.RedisProbe{Role: crddemov1.RedisRoleMaster}
	e.createMydemo("cache", crddemov1.MydemoSpec{IP: r.Addr.Addr().String(), Port: int32(r.Addr.Port()), Probe: p})
	e.waitCondition("cache", crddemov1.ConditionReady, metav1.ConditionTrue, "", converge)
	e.waitEndpointReady("cache-ipv4", true, converge)

	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	md := e.waitCondition("cache", crddemov1.ConditionReachable, metav1.ConditionFalse, "", appProbeLimit)
	if got := endpointMessage(md); got != "connection refused" {
		t.Errorf("stopped: status.endpoints[0].message = %q, want %q", got, "connection refused")
	}
	e.waitEndpointReady("cache-ipv4", false, converge)

	if err := r.Restart(t.Context(), servers.RedisOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitCondition("cache", crddemov1.ConditionReady, metav1.ConditionTrue, "", appProbeLimit)
	e.waitEndpointReady("cache-ipv4", true, converge)

	if err := r.Restart(t.Context(), servers.RedisOptions{RequirePass: "s3cr3t"}); err != nil {
		t.Fatal(err)
	}
	const want = "Redis: NOAUTH Authentication required."
	md = e.waitCondition("cache", crddemov1.ConditionReachable, metav1.ConditionFalse, "", appProbeLimit)
	if got := endpointMessage(md); got != want {
		t.Errorf("requirepass: status.endpoints[0].message = %q, want %q", got, want)
	}
	if msg := findCondition(md, crddemov1.ConditionReachable).Message; !strings.Contains(msg, want) {
		t.Errorf("Reachable message %q does not say %q", msg, want)
	}
	e.waitEndpointReady("cache-ipv4", false, converge)
	e.waitWarning("cache", controller.ReasonUnreachable, want)

	if err := r.Restart(t.Context(), servers.RedisOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitCondition("cache", crddemov1.ConditionReady, metav1.ConditionTrue, "", appProbeLimit)
	e.waitEndpointReady("cache-ipv4", true, converge)
}

// TestDNSProbeFollowsServer: a DNS Mydemo on the real control plane is
// probed on its first UDP port (its first port is a TCP one) with a query
// for dns.name, is Ready while the server answers it, Unreachable with the
// response code named while it answers SERVFAIL, Ready again, and
// Unreachable with "port unreachable" once nothing listens.
func TestDNSProbeFollowsServer(t *testing.T) {
	t.Parallel()
	host := testhost.Require(t)
	const name = "health.example.com"
	dns := servers.StartDNS(t, host, netip.AddrPortFrom(host.Addr(1), 53))
	dns.Set(name, host.Addr(2))

	e := newEnv(t)
	e.startController()
	p := appProbe(crddemov1.ProbeTypeDNS)
	p.DNS = &crddemov1.DNSProbe{Name: name}
	e.createMydemo("resolver", crddemov1.MydemoSpec{
		IP:    host.Addr(1).String(),
		Ports: []crddemov1.Port{{Name: "web", Port: 80}, {Name: "dns", Port: 53, Protocol: crddemov1.ProtocolUDP}},
		Probe: p,
	})
	e.waitCondition("resolver", crddemov1.ConditionReady, metav1.ConditionTrue, "", converge)
	if dns.Asked(name) == 0 {
		t.Fatalf("Ready without a query for %s: the endpoint was not probed with DNS", name)
	}

	for _, step := range []struct {
		what, want string
		do         func()
	}{
		{"SERVFAIL", "DNS: SERVFAIL", func() { dns.Fail(name) }},
		{"answering again", "", func() { dns.Set(name, host.Addr(2)) }},
		{"stopped", "DNS: port unreachable", dns.Stop},
	} {
		step.do()
		if step.want == "" {
			e.waitCondition("resolver", crddemov1.ConditionReady, metav1.ConditionTrue, "", appProbeLimit)
			continue
		}
		md := e.waitCondition("resolver", crddemov1.ConditionReachable, metav1.ConditionFalse, "", appProbeLimit)
		if got := endpointMessage(md); got != step.want {
			t.Errorf("%s: status.endpoints[0].message = %q, want %q", step.what, got, step.want)
		}
	}
}

// TestRedisProbeMessageBounded: a server is not trusted to keep its error
// short or printable. A "Redis" that answers PONG, then answers PING with
// an error line of 3 KiB holding control bytes and invalid UTF-8, leaves a
// message of at most maxProbeMessage bytes of printable UTF-8 that starts
// with its words, in status and in the Warning Event.
func TestRedisProbeMessageBounded(t *testing.T) {
	t.Parallel()
	host := testhost.Require(t)
	const words = "ERR the dataset is on fire"
	var failing atomic.Bool
	answer := func() string {
		if failing.Load() {
			return "-" + words + " " + strings.Repeat("\x01\xff\x1b[31m", 256) + strings.Repeat("x", 1024) + "\r\n"
		}
		return "+PONG\r\n"
	}
	ln, err := host.Listen(servers.RedisPort)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go answerLines(conn, answer)
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
	})

	e := newEnv(t)
	e.startController()
	e.createMydemo("noisy", crddemov1.MydemoSpec{IP: host.Addr(1).String(), Port: servers.RedisPort, Probe: appProbe(crddemov1.ProbeTypeRedis)})
	e.waitCondition("noisy", crddemov1.ConditionReady, metav1.ConditionTrue, "", converge)

	failing.Store(true)
	md := e.waitCondition("noisy", crddemov1.ConditionReachable, metav1.ConditionFalse, "", appProbeLimit)
	const prefix = "Redis: " + words
	bounded := func(where, msg string) {
		t.Helper()
		if !strings.HasPrefix(msg, prefix) || len(msg) > maxProbeMessage || !utf8.ValidString(msg) || strings.ContainsAny(msg, "\x01\x1b") {
			t.Errorf("%s message (%d bytes) is not the bounded, printable %q…: %q", where, len(msg), prefix, msg)
		}
	}
	bounded("status.endpoints[0]", endpointMessage(md))
	ev := e.waitWarning("noisy", controller.ReasonUnreachable, prefix)
	// The Event names the endpoint and quotes its message in parentheses.
	msg := ev.Message[strings.Index(ev.Message, prefix):]
	bounded("Warning Event", msg[:strings.LastIndex(msg, ")")])
}

// answerLines answers every line read from conn with answer(), as a Redis
// answers every inline command, until the client closes.
func answerLines(conn net.Conn, answer func() string) {
	defer func() { _ = conn.Close() }()
	r := bufio.NewReader(conn)
	for {
		if _, err := r.ReadString('\n'); err != nil {
			return
		}
		if _, err := conn.Write([]byte(answer())); err != nil {
			return
		}
	}
}

// waitWarning waits for a Warning Event with reason about name whose
// message contains want (the same reason may have been sent before, for
// another failure).
func (e *env) waitWarning(name, reason, want string) corev1.Event {
	e.t.Helper()
	var found corev1.Event
	e.eventually(converge, "Warning Event "+reason+" for "+name+" saying "+want, func() (bool, string) {
		list, err := e.kube.CoreV1().Events(e.ns).List(context.Background(), metav1.ListOptions{
			FieldSelector: "involvedObject.name=" + name + ",reason=" + reason,
		})
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, ev := range list.Items {
			if ev.Type == corev1.EventTypeWarning && strings.Contains(ev.Message, want) {
				found = ev
				return true, ""
			}
			seen = append(seen, ev.Message)
		}
		return false, strings.Join(seen, "; ")
	})
	return found
}
