package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/controller"
	"github.com/crddemo/crddemo/pkg/probe/check"
	"github.com/crddemo/crddemo/test/testhost"
)

// Bounds the controller documents for the text of status and Events
// (docs/architecture.md#conditions): a probe's message, a condition's and
// an Event's.
const (
	hostileConditionMessageBytes = 1024
	hostileEventMessageBytes     = 1024
)

// hostileSecret is in the query of every hostile probe's path; no status
// or Event may show it.
const hostileSecret = "SECRET"

// hostilePath is the longest path the API accepts (2,048 characters), with
// a token in its query.
var hostilePath = "/" + strings.Repeat("p", 2048-1-len("?token="+hostileSecret)) + "?token=" + hostileSecret

// healthyResponse is what a hostile server answers until it turns.
const healthyResponse = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"

// rawServer answers every HTTP request with the bytes of its current
// response, whatever they are, and counts the requests.
type rawServer struct {
	response atomic.Pointer[string]
	requests atomic.Int64
}

// serveRawOnHost runs a rawServer on port of host until the test ends.
func serveRawOnHost(t *testing.T, host *testhost.Host, port int) *rawServer {
	t.Helper()
	s := &rawServer{}
	healthy := healthyResponse
	s.response.Store(&healthy)
	ln, err := host.Listen(port)
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				// Closed at cleanup; any other failure shows as failed
				// probes, which the test does not expect.
				return
			}
			conns.Go(func() { s.answer(c) })
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		conns.Wait()
	})
	return s
}

// answer reads the request's head, so that the close is orderly and the
// probe reads the answer rather than a reset, then writes the response.
func (s *rawServer) answer(c net.Conn) {
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReaderSize(c, 4096)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if line == "\r\n" {
			break
		}
	}
	s.requests.Add(1)
	_, _ = c.Write([]byte(*s.response.Load()))
}

func (s *rawServer) turn(response string) { s.response.Store(&response) }

// checkHostileText fails t unless text is at most limit bytes of
// printable UTF-8 without the secret or any query.
func checkHostileText(t *testing.T, what, text string, limit int) {
	t.Helper()
	printable := !strings.ContainsFunc(text, func(r rune) bool { return !unicode.IsPrint(r) })
	if len(text) > limit || !utf8.ValidString(text) || !printable || strings.Contains(text, hostileSecret) || strings.Contains(text, "?token") {
		t.Errorf("%s (%d bytes, bound %d) is not short, printable text without the query: %.120q…", what, len(text), limit, text)
	}
}

// testHostileServer publishes n endpoints on a test host whose HTTP server
// answers the probe of hostilePath, healthy at first and then with
// hostile. The status is written (observedGeneration current, every
// endpoint Unreachable), every message of status and of the Events is
// bounded, printable and free of the secret, and repeating the same
// hostile answer writes nothing more. It returns the endpoint messages.
func testHostileServer(t *testing.T, n int, hostile string) []string {
	host := testhost.Require(t)
	srv := serveRawOnHost(t, host, 8080)
	e := newEnv(t)
	rc := e.startController()

	// A period of 2 s keeps 1,000 HTTP probes a modest load on a shared
	// machine; one failure is enough to turn.
	const period = 2 * time.Second
	p := &crddemov1.Probe{Type: crddemov1.ProbeTypeHTTP, PeriodSeconds: int32(period / time.Second), TimeoutSeconds: 1,
		SuccessThreshold: 1, FailureThreshold: 1, HTTP: &crddemov1.HTTPProbe{Path: hostilePath}}
	spec := crddemov1.MydemoSpec{Ports: []crddemov1.Port{{Name: "http", Port: 8080}}, Probe: p}
	for i := 1; i <= n; i++ {
		spec.Endpoints = append(spec.Endpoints, crddemov1.Endpoint{IP: host.Addr(i).String()})
	}
	e.createMydemo("hostile", spec)
	e.waitCondition("hostile", crddemov1.ConditionReady, metav1.ConditionTrue, "Ready", converge)

	srv.turn(hostile)
	var md *crddemov1.Mydemo
	e.eventually(converge, fmt.Sprintf("all %d endpoints Unreachable in a written status", n), func() (bool, string) {
		var err error
		md, err = e.client.CrddemoV1().Mydemos(e.ns).Get(context.Background(), "hostile", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		down := 0
		for _, ep := range md.Status.Endpoints {
			if ep.Probe == crddemov1.ProbeUnreachable {
				down++
			}
		}
		reach := meta.FindStatusCondition(md.Status.Conditions, crddemov1.ConditionReachable)
		if reach == nil || reach.Status != metav1.ConditionFalse || down != n {
			return false, fmt.Sprintf("%d of %d endpoints Unreachable in status", down, n)
		}
		return true, ""
	})
	if md.Status.ObservedGeneration != md.Generation || len(md.Status.Conditions) < 3 {
		t.Errorf("status of generation %d with %d conditions, want generation %d and the three conditions",
			md.Status.ObservedGeneration, len(md.Status.Conditions), md.Generation)
	}
	var messages []string
	for _, ep := range md.Status.Endpoints {
		checkHostileText(t, "message of endpoint "+ep.Address, ep.Message, check.MaxMessageBytes)
		messages = append(messages, ep.Message)
	}
	for _, c := range md.Status.Conditions {
		checkHostileText(t, c.Type+" condition message", c.Message, hostileConditionMessageBytes)
	}
	if b, err := json.Marshal(md); err == nil {
		t.Logf("Mydemo of %d endpoints: %d bytes of JSON; endpoint message %q", n, len(b), messages[0])
	}

	// The Warning names endpoints with their messages.
	e.waitEvent("hostile", corev1.EventTypeWarning, controller.ReasonUnreachable, converge)
	events, err := e.kube.CoreV1().Events(e.ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=hostile"})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range events.Items {
		checkHostileText(t, ev.Reason+" Event", ev.Message, hostileEventMessageBytes)
	}

	// The same hostile answer again is the same message: two more rounds
	// of probes write no status.
	puts := rc.counter.snapshot()[http.MethodPut]
	requests := srv.requests.Load()
	e.eventually(converge, "two more rounds of probes", func() (bool, string) {
		got := srv.requests.Load() - requests
		return got >= int64(2*n), fmt.Sprintf("%d requests", got)
	})
	if more := rc.counter.snapshot()[http.MethodPut] - puts; more != 0 {
		t.Errorf("%d more updates while the same failure repeated", more)
	}
	return messages
}

// TestHostileLongPathStatusFits: 1,000 endpoints failing with a 503 on a
// 2,048-character path whose query holds a token. Unbounded, each message
// repeated the path and the status (2.2 MB) could never be written.
func TestHostileLongPathStatusFits(t *testing.T) {
	t.Parallel()
	messages := testHostileServer(t, 1000, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	for _, m := range messages {
		if !strings.HasPrefix(m, "HTTP 503 from GET /ppp") {
			t.Fatalf("endpoint message %q does not say what failed", m)
		}
	}
}

// TestHostileHeaderLineStatusFits: 120 endpoints whose server sends a
// 15 KB header line. Unbounded, each message quoted the line and the URL
// with its token, and etcd refused the status as too large.
func TestHostileHeaderLineStatusFits(t *testing.T) {
	t.Parallel()
	testHostileServer(t, 120, "HTTP/1.1 200 OK\r\n"+strings.Repeat("A", 15000)+"\r\n\r\n")
}

// TestHostileStatusLineStatusFits: one endpoint whose status line is
// 12,000 bytes of 0xFF after the version. Unbounded, the message quoted
// them (48 KB escaped) and the API server refused the condition message.
func TestHostileStatusLineStatusFits(t *testing.T) {
	t.Parallel()
	testHostileServer(t, 1, "HTTP/1.1 "+strings.Repeat("\xff", 12000)+"\r\n\r\n")
}

// TestChangingFailureWordingIsPaced: a target that answers a different
// error status on every probe changes its endpoint's message each time.
// While the verdict stays Unreachable those wording-only status writes
// come at most once per 30 s (the controller's wording refresh), and the
// message still catches up with the latest failure after that.
func TestChangingFailureWordingIsPaced(t *testing.T) {
	t.Parallel()
	const wordingRefresh = 30 * time.Second // pkg/controller/wording.go
	host := testhost.Require(t)
	srv := serveRawOnHost(t, host, 8080)
	e := newEnv(t)
	rc := e.startController()
	const period = time.Second
	p := &crddemov1.Probe{Type: crddemov1.ProbeTypeHTTP, PeriodSeconds: 1, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 1}
	e.createMydemo("wordy", crddemov1.MydemoSpec{IP: host.Addr(1).String(), Port: 8080, Probe: p})
	e.waitCondition("wordy", crddemov1.ConditionReady, metav1.ConditionTrue, "Ready", converge)

	// Turn a new status code faster than the probes come.
	stop := make(chan struct{})
	rotated := make(chan struct{})
	go func() {
		defer close(rotated)
		for i := 0; ; i++ {
			srv.turn(fmt.Sprintf("HTTP/1.1 %d Busy\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 500+i%4))
			select {
			case <-stop:
				return
			case <-time.After(period / 3):
			}
		}
	}()
	e.waitCondition("wordy", crddemov1.ConditionReachable, metav1.ConditionFalse, "", converge)
	// A window shorter than the refresh: at most one wording write in it,
	// where each probe (about ten) would otherwise have cost one.
	const window = 10 * time.Second
	before := rc.counter.snapshot()["PUT"]
	time.Sleep(window)
	if puts := rc.counter.snapshot()["PUT"] - before; puts > 1 {
		t.Errorf("%d status writes in %s of changing wording, want at most 1 per %s", puts, window, wordingRefresh)
	}
	close(stop)
	<-rotated

	srv.turn("HTTP/1.1 418 Teapot\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	e.eventually(wordingRefresh+2*period+converge, "the message of the latest failure", func() (bool, string) {
		md := e.getMydemo("wordy")
		if len(md.Status.Endpoints) != 1 {
			return false, "no endpoint"
		}
		m := md.Status.Endpoints[0].Message
		return strings.HasPrefix(m, "HTTP 418 "), m
	})
}
