package check

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crddemo/crddemo/pkg/probe/internal/probetest"
)

// seenRequest is what a test server saw of the last request.
type seenRequest struct {
	mu     sync.Mutex
	method string
	host   string
	header http.Header
}

func (s *seenRequest) record(r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.method, s.host, s.header = r.Method, r.Host, r.Header.Clone()
}

func (s *seenRequest) get() (method, host string, header http.Header) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.method, s.host, s.header
}

// newStatusServer answers every request with the status that status
// gives its path, and records it in seen.
func newStatusServer(t *testing.T, seen *seenRequest, status func(path string) int) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.record(r)
		code := status(r.URL.Path)
		if code >= 300 && code < 400 {
			w.Header().Set("Location", "/elsewhere")
		}
		w.WriteHeader(code)
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestHTTPCheckStatuses(t *testing.T) {
	var seen seenRequest
	var elsewhere atomic.Int32
	srv := newStatusServer(t, &seen, func(path string) int {
		switch path {
		case "/elsewhere":
			elsewhere.Add(1)
			return 200
		case "/redirect":
			return 302
		case "/unavailable":
			return 503
		case "/nocontent":
			return 204
		case "/teapot":
			return 418
		}
		return 200
	})
	addr := mustAddrPort(t, strings.TrimPrefix(srv.URL, "http://"))
	r := func(min, max int) StatusRange { return StatusRange{Min: min, Max: max} }

	for _, tc := range []struct {
		name string
		spec HTTPSpec
		want string
	}{
		{"default GET /", HTTPSpec{}, ""},
		{"default passes 204", HTTPSpec{Path: "/nocontent"}, ""},
		{"default fails 503", HTTPSpec{Path: "/unavailable"}, "HTTP 503 from GET /unavailable"},
		{"default passes a redirect without following it", HTTPSpec{Path: "/redirect"}, ""},
		{"2xx only fails a redirect", HTTPSpec{Path: "/redirect", ExpectedStatuses: []StatusRange{r(200, 299)}}, "HTTP 302 from GET /redirect"},
		{"one code", HTTPSpec{Path: "/nocontent", ExpectedStatuses: []StatusRange{r(204, 204)}}, ""},
		{"one code without max", HTTPSpec{Path: "/nocontent", ExpectedStatuses: []StatusRange{{Min: 204}}}, ""},
		{"one code without max fails others", HTTPSpec{Path: "/teapot", ExpectedStatuses: []StatusRange{{Min: 204}}}, "HTTP 418 from GET /teapot"},
		{"one code fails others", HTTPSpec{Path: "/", ExpectedStatuses: []StatusRange{r(204, 204)}}, "HTTP 200 from GET /"},
		{"several ranges", HTTPSpec{Path: "/teapot", ExpectedStatuses: []StatusRange{r(200, 299), r(418, 418)}}, ""},
		{"503 accepted when listed", HTTPSpec{Path: "/unavailable", ExpectedStatuses: []StatusRange{r(500, 599)}}, ""},
		{"HEAD", HTTPSpec{Method: "HEAD", Path: "/unavailable"}, "HTTP 503 from HEAD /unavailable"},
		{"query kept out of the message", HTTPSpec{Path: "/unavailable?token=secret"}, "HTTP 503 from GET /unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewHTTP(tc.spec, nil)
			if err != nil {
				t.Fatal(err)
			}
			for range 2 { // the same failure gives the same message
				if got := runCheck(t, c, addr); got != tc.want {
					t.Errorf("message %q, want %q", got, tc.want)
				}
			}
			if method, _, _ := seen.get(); tc.spec.Method != "" && method != tc.spec.Method {
				t.Errorf("server saw method %q, want %q", method, tc.spec.Method)
			}
		})
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("a redirect was followed %d times", n)
	}
}

func TestHTTPCheckRequest(t *testing.T) {
	var seen seenRequest
	srv := newStatusServer(t, &seen, func(string) int { return 200 })
	addr := mustAddrPort(t, strings.TrimPrefix(srv.URL, "http://"))

	c, err := NewHTTP(HTTPSpec{
		Path:    "/healthz",
		Host:    "api.example.com:8080",
		Headers: []Header{{Name: "Authorization", Value: "Bearer abc"}, {Name: "X-Probe", Value: "1"}, {Name: "X-Probe", Value: "2"}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if msg := runCheck(t, c, addr); msg != "" {
		t.Fatal(msg)
	}
	_, host, header := seen.get()
	if host != "api.example.com:8080" {
		t.Errorf("Host %q, want api.example.com:8080", host)
	}
	if got := header.Get("Authorization"); got != "Bearer abc" {
		t.Errorf("Authorization %q", got)
	}
	if got := header.Values("X-Probe"); len(got) != 2 || got[0] != "1" || got[1] != "2" {
		t.Errorf("X-Probe %q, want [1 2]", got)
	}
	if got := header.Get("User-Agent"); !strings.HasPrefix(got, "crddemo-probe/") {
		t.Errorf("User-Agent %q does not name the project", got)
	}
	if got := header.Get("Connection"); got != "close" {
		t.Errorf("Connection %q, want close: every probe is a fresh connection", got)
	}

	// Without a host, the Host header is the probed address; a
	// User-Agent of the spec replaces the default one.
	c, err = NewHTTP(HTTPSpec{Headers: []Header{{Name: "user-agent", Value: "mine"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if msg := runCheck(t, c, addr); msg != "" {
		t.Fatal(msg)
	}
	_, host, header = seen.get()
	if host != addr.String() {
		t.Errorf("Host %q, want %q", host, addr)
	}
	if got := header.Values("User-Agent"); len(got) != 1 || got[0] != "mine" {
		t.Errorf("User-Agent %q, want [mine]", got)
	}

	// The environment's proxy settings never apply.
	if p := c.(*httpChecker).client.Transport.(*http.Transport).Proxy; p != nil {
		t.Error("the transport has a Proxy function")
	}
}

// TestHTTPCheckBody: a body is read only up to the bound (a server that
// streams forever passes), and a body that stalls before the bound fails
// at the deadline.
func TestHTTPCheckBody(t *testing.T) {
	const timeout = 300 * time.Millisecond
	// margin covers scheduling on a loaded machine; the stalled server
	// would hold the probe forever without the deadline.
	const margin = 3 * time.Second
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		switch r.URL.Path {
		case "/endless":
			chunk := make([]byte, 1024)
			for r.Context().Err() == nil {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		case "/stall":
			_, _ = w.Write([]byte("partial"))
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}
	}))
	t.Cleanup(srv.Close)
	addr := mustAddrPort(t, strings.TrimPrefix(srv.URL, "http://"))

	for _, tc := range []struct{ path, want string }{
		{"/endless", ""},
		{"/stall", "i/o timeout reading the body from GET /stall"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			c, err := NewHTTP(HTTPSpec{Path: tc.path}, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			start := time.Now()
			err = c.Check(ctx, addr)
			elapsed := time.Since(start)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("message %q, want %q", got, tc.want)
			}
			if elapsed > timeout+margin {
				t.Errorf("check took %v with a %v timeout", elapsed, timeout)
			}
		})
	}

	stalled := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	t.Cleanup(stalled.Close)
	c, err := NewHTTP(HTTPSpec{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := c.Check(ctx, mustAddrPort(t, strings.TrimPrefix(stalled.URL, "http://"))); err == nil || err.Error() != msgTimeout {
		t.Errorf("no answer: %v, want %q", err, msgTimeout)
	}
}

func TestHTTPCheckConnectionErrors(t *testing.T) {
	c, err := NewHTTP(HTTPSpec{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := runCheck(t, c, mustAddrPort(t, probetest.RefusedAddress(t))); got != "connection refused" {
		t.Errorf("refused: %q", got)
	}
	// A TCP server that closes at once is not an HTTP server.
	if got := runCheck(t, c, mustAddrPort(t, probetest.Listen(t))); got != msgClosed {
		t.Errorf("closed at once: %q, want %q", got, msgClosed)
	}
}

// tlsServer starts an HTTPS test server with a certificate for
// api.probe.test and 127.0.0.1 signed by ca.
func tlsServer(t testing.TB, cert tls.Certificate) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestHTTPSCheck(t *testing.T) {
	ca := newTestCA(t)
	other := newTestCA(t)
	srv := tlsServer(t, ca.issue(t, "api.probe.test", time.Now().Add(time.Hour)))
	expired := tlsServer(t, ca.issue(t, "api.probe.test", time.Now().Add(-time.Hour)))
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(plain.Close)
	addr := mustAddrPort(t, strings.TrimPrefix(srv.URL, "https://"))

	for _, tc := range []struct {
		name   string
		spec   HTTPSpec
		tls    TLSSpec
		target string // default: srv
		want   string
	}{
		{"CA bundle and server name", HTTPSpec{}, TLSSpec{ServerName: "api.probe.test", CABundle: ca.pem}, "", ""},
		{"CA bundle and the IP address", HTTPSpec{}, TLSSpec{CABundle: ca.pem}, "", ""},
		{"server name from host", HTTPSpec{Host: "api.probe.test:8443"}, TLSSpec{CABundle: ca.pem}, "", ""},
		{"two CAs in the bundle", HTTPSpec{}, TLSSpec{CABundle: append(append([]byte{}, other.pem...), ca.pem...)}, "", ""},
		{"system roots", HTTPSpec{}, TLSSpec{ServerName: "api.probe.test"}, "", msgUnknownCA},
		{"another CA", HTTPSpec{}, TLSSpec{ServerName: "api.probe.test", CABundle: other.pem}, "", msgUnknownCA},
		{"wrong server name", HTTPSpec{}, TLSSpec{ServerName: "db.probe.test", CABundle: ca.pem}, "", "TLS: certificate is not valid for db.probe.test"},
		{"wrong name from host", HTTPSpec{Host: "db.probe.test"}, TLSSpec{CABundle: ca.pem}, "", "TLS: certificate is not valid for db.probe.test"},
		{"skip verify", HTTPSpec{}, TLSSpec{InsecureSkipVerify: true}, "", ""},
		{"expired", HTTPSpec{}, TLSSpec{CABundle: ca.pem}, expired.URL, msgCertExpired},
		{"plain HTTP server", HTTPSpec{}, TLSSpec{InsecureSkipVerify: true}, plain.URL, msgNotTLS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewHTTP(tc.spec, &tc.tls)
			if err != nil {
				t.Fatal(err)
			}
			target := addr
			if tc.target != "" {
				target = mustAddrPort(t, tc.target[strings.Index(tc.target, "//")+2:])
			}
			for range 2 { // the same failure gives the same message
				if got := runCheck(t, c, target); got != tc.want {
					t.Errorf("message %q, want %q", got, tc.want)
				}
			}
		})
	}

	// An HTTP probe of the HTTPS port gets the server's own answer.
	c, err := NewHTTP(HTTPSpec{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := runCheck(t, c, addr); got != "HTTP 400 from GET /" {
		t.Errorf("HTTP to HTTPS: %q", got)
	}
}

func TestNewHTTPCheckerRejects(t *testing.T) {
	ca := newTestCA(t)
	for name, tc := range map[string]struct {
		spec HTTPSpec
		tls  *TLSSpec
	}{
		"POST":           {HTTPSpec{Method: "POST"}, nil},
		"relative path":  {HTTPSpec{Path: "healthz"}, nil},
		"Host header":    {HTTPSpec{Headers: []Header{{Name: "host", Value: "x"}}}, nil},
		"status 600":     {HTTPSpec{ExpectedStatuses: []StatusRange{{Min: 200, Max: 600}}}, nil},
		"min above max":  {HTTPSpec{ExpectedStatuses: []StatusRange{{Min: 300, Max: 200}}}, nil},
		"no certificate": {HTTPSpec{}, &TLSSpec{CABundle: []byte("not PEM")}},
		"a key":          {HTTPSpec{}, &TLSSpec{CABundle: []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")}},
		"broken cert":    {HTTPSpec{}, &TLSSpec{CABundle: append(append([]byte{}, ca.pem...), []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")...)}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewHTTP(tc.spec, tc.tls); err == nil {
				t.Error("accepted")
			}
		})
	}
	if _, err := New(Spec{Kind: "ICMP"}, nil); err == nil {
		t.Error("New accepted an unknown kind")
	}
}

// TestHTTPCheckExpectBody: the body, read up to maxBodyBytes, must
// contain expectBody or match expectBodyRegex.
func TestHTTPCheckExpectBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/late":
			// The text comes after the bound, so the probe never sees it.
			_, _ = w.Write([]byte(strings.Repeat(" ", maxBodyBytes) + "status: ok"))
		default:
			_, _ = w.Write([]byte("status: ok\nversion: 1.2.3\n"))
		}
	}))
	t.Cleanup(srv.Close)
	addr := mustAddrPort(t, strings.TrimPrefix(srv.URL, "http://"))
	for _, tc := range []struct {
		name string
		spec HTTPSpec
		want string
	}{
		{"substring", HTTPSpec{ExpectBody: "status: ok"}, ""},
		{"substring missing", HTTPSpec{Path: "/healthz?token=SECRET", ExpectBody: "status: degraded"}, `HTTP body from GET /healthz does not contain "status: degraded"`},
		{"regex", HTTPSpec{ExpectBodyRegex: `(?m)^version: 1\.\d+\.\d+$`}, ""},
		{"regex missing", HTTPSpec{ExpectBodyRegex: `^status: (degraded|down)`}, `HTTP body from GET / does not match "^status: (degraded|down)"`},
		{"beyond the bound", HTTPSpec{Path: "/late", ExpectBody: "status: ok"}, `HTTP body from GET /late does not contain "status: ok"`},
		{"long expectation", HTTPSpec{ExpectBody: strings.Repeat("é", 100)}, `HTTP body from GET / does not contain "` + strings.Repeat("é", 16) + `…"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewHTTP(tc.spec, nil)
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				got := runCheck(t, c, addr)
				if got != tc.want {
					t.Errorf("message %q, want %q", got, tc.want)
				}
				checkMessageBounded(t, got)
			}
		})
	}
}

// TestNewRejects: New fails on a spec that can never work, once, instead
// of on every probe.
func TestNewRejects(t *testing.T) {
	for name, spec := range map[string]Spec{
		"expectBody and expectBodyRegex": {Kind: KindHTTP, HTTP: &HTTPSpec{ExpectBody: "a", ExpectBodyRegex: "a"}},
		"regex that does not compile":    {Kind: KindHTTPS, HTTP: &HTTPSpec{ExpectBodyRegex: "(a"}},
		"regex beyond RE2":               {Kind: KindHTTP, HTTP: &HTTPSpec{ExpectBodyRegex: `(a)\1`}},
		"TCP expect beyond the read":     {Kind: KindTCP, TCP: &TCPSpec{Expect: make([]byte, maxReadBytes+1)}},
		"TCP with a broken CA bundle":    {Kind: KindTCP, TLS: &TLSSpec{CABundle: []byte("not PEM")}},
		"Redis role":                     {Kind: KindRedis, Redis: &RedisSpec{Role: "slave"}},
		"Redis with a broken CA bundle":  {Kind: KindRedis, TLS: &TLSSpec{CABundle: []byte("not PEM")}},
		"Postgres without a section":     {Kind: KindPostgres},
		"Postgres without a user":        {Kind: KindPostgres, Postgres: &PostgresSpec{Database: "shop"}},
		"Postgres NUL in a name":         {Kind: KindPostgres, Postgres: &PostgresSpec{User: "a\x00b"}},
		"UDP without a section":          {Kind: KindUDP},
		"UDP without send":               {Kind: KindUDP, UDP: &UDPSpec{Expect: []byte("x")}},
		"UDP expect beyond the read":     {Kind: KindUDP, UDP: &UDPSpec{Send: []byte("x"), Expect: make([]byte, maxReadBytes+1)}},
		"DNS without a section":          {Kind: KindDNS},
		"DNS without a name":             {Kind: KindDNS, DNS: &DNSSpec{Type: DNSTypeA}},
		"DNS without a type":             {Kind: KindDNS, DNS: &DNSSpec{Name: "a.test"}},
		"DNS type MX":                    {Kind: KindDNS, DNS: &DNSSpec{Name: "a.test", Type: "MX"}},
		"DNS label over 63 bytes":        {Kind: KindDNS, DNS: &DNSSpec{Name: strings.Repeat("a", 64) + ".test", Type: DNSTypeA}},
		"DNS empty label":                {Kind: KindDNS, DNS: &DNSSpec{Name: "a..test", Type: DNSTypeA}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := New(spec, nil); err == nil {
				t.Error("accepted")
			}
		})
	}
}
