package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"regexp/syntax"
	"strings"
)

// Bounds of what an HTTP probe reads: a health endpoint answers in a few
// bytes, and a target must not be able to make the controller buffer or
// wait for more.
const (
	// maxBodyBytes is the most of a response body a probe reads; it then
	// closes the connection, whatever is left.
	maxBodyBytes = 4 << 10
	// maxHeaderBytes bounds the response headers.
	maxHeaderBytes = 16 << 10
)

// HTTPSpec is the request of an HTTP or HTTPS probe.
type HTTPSpec struct {
	// Method is GET (the default when empty) or HEAD.
	Method string
	// Path is the path and query, starting with "/"; empty means "/".
	Path string
	// Host is the Host header; empty means the probed ip:port.
	Host string
	// Headers are sent with every request, in order. A User-Agent here
	// replaces the default one.
	Headers []Header
	// ExpectedStatuses are the status code ranges that pass; none means
	// 200-399, as kubelet.
	ExpectedStatuses []StatusRange
	// ExpectBody must be contained in the body, read up to
	// maxBodyBytes; empty means any body. Exclusive with
	// ExpectBodyRegex.
	ExpectBody string
	// ExpectBodyRegex is an RE2 expression that must match the body,
	// read up to maxBodyBytes; empty means any body.
	ExpectBodyRegex string
}

// Header is one request header.
type Header struct {
	Name  string
	Value string
}

// StatusRange is a range of status codes, both ends included. Max 0
// means Min: a single code.
type StatusRange struct {
	Min, Max int
}

var defaultStatuses = []StatusRange{{Min: 200, Max: 399}}

// httpChecker sends one request per probe on a fresh connection.
type httpChecker struct {
	client   *http.Client
	method   string
	url      url.URL // Host is filled in per probe
	host     string
	header   http.Header
	statuses []StatusRange
	// body, when set, must be contained in the body; bodyRegex, when
	// set, must match it.
	body      []byte
	bodyRegex *regexp.Regexp
	// what names the request in messages: method and path without the
	// query, which may carry a token, and cut to maxPathBytes.
	what string
}

// NewHTTP returns a Checker that sends spec's request and passes
// when the status is one of spec.ExpectedStatuses. With tlsSpec != nil it
// speaks HTTPS.
//
// It is safe by construction: it ignores proxy settings of the
// environment (the controller's own proxy must not see, or be a way to
// reach, tenants' targets), follows no redirect (a 3xx is judged like any
// other status, so a target cannot send the probe elsewhere), reads at
// most maxBodyBytes of the body, and opens a fresh connection per probe,
// closed with a reset (see NewDialer). HTTP/1.1 only: a health check
// gains nothing from HTTP/2.
func NewHTTP(spec HTTPSpec, tlsSpec *TLSSpec) (Checker, error) {
	return newHTTPChecker(spec, tlsSpec, NewDialer().DialContext)
}

func newHTTPChecker(spec HTTPSpec, tlsSpec *TLSSpec, dial DialFunc) (Checker, error) {
	c := &httpChecker{
		method: spec.Method,
		host:   spec.Host,
		header: http.Header{"User-Agent": {userAgent()}},
	}
	switch c.method {
	case "":
		c.method = http.MethodGet
	case http.MethodGet, http.MethodHead:
	default:
		return nil, fmt.Errorf("HTTP method %q: only GET and HEAD are probes", spec.Method)
	}
	path := spec.Path
	if path == "" {
		path = "/"
	}
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("HTTP path %q does not start with /", path)
	}
	u, err := url.Parse("http://probe.invalid" + path)
	if err != nil {
		return nil, fmt.Errorf("HTTP path %q: %w", path, err)
	}
	c.url = *u
	c.what = c.method + " " + Bound(u.EscapedPath(), maxPathBytes)
	for _, h := range spec.Headers {
		if strings.EqualFold(h.Name, "Host") {
			return nil, errors.New("set the Host header in HTTPSpec.Host")
		}
		if strings.EqualFold(h.Name, "User-Agent") {
			c.header.Del("User-Agent")
		}
	}
	for _, h := range spec.Headers {
		c.header.Add(h.Name, h.Value)
	}
	switch {
	case spec.ExpectBody != "" && spec.ExpectBodyRegex != "":
		return nil, errors.New("http.expectBody and http.expectBodyRegex are exclusive")
	case spec.ExpectBody != "":
		c.body = []byte(spec.ExpectBody)
	case spec.ExpectBodyRegex != "":
		re, err := compileBodyRegex(spec.ExpectBodyRegex)
		if err != nil {
			return nil, fmt.Errorf("http.expectBodyRegex: %w", err)
		}
		c.bodyRegex = re
	}
	c.statuses = defaultStatuses
	if len(spec.ExpectedStatuses) > 0 {
		// A copy, so that the caller's spec stays as it was given.
		c.statuses = make([]StatusRange, len(spec.ExpectedStatuses))
		for i, r := range spec.ExpectedStatuses {
			if r.Max == 0 {
				r.Max = r.Min
			}
			if r.Min < 100 || r.Max > 599 || r.Min > r.Max {
				return nil, fmt.Errorf("status range %d-%d is not within 100-599", r.Min, r.Max)
			}
			c.statuses[i] = r
		}
	}

	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            dial,
		DisableKeepAlives:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: maxHeaderBytes,
	}
	if tlsSpec != nil {
		c.url.Scheme = "https"
		hostName := ""
		if spec.Host != "" {
			hostName = hostOnly(spec.Host)
		}
		cfg, err := tlsSpec.clientConfig(hostName, nil)
		if err != nil {
			return nil, err
		}
		transport.TLSClientConfig = cfg
	}
	c.client = &http.Client{
		Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return c, nil
}

func (c *httpChecker) Check(ctx context.Context, addr netip.AddrPort) error {
	u := c.url
	u.Host = addr.String()
	req := &http.Request{
		Method:     c.method,
		URL:        &u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		// Cloned because the transport owns the request's header while
		// it runs, and many probes share this checker.
		Header: c.header.Clone(),
		Host:   c.host,
	}
	req = req.WithContext(ctx)
	resp, err := c.client.Do(req)
	if err != nil {
		// A failed verification still carries the chain (an expired
		// certificate is reported, not only refused).
		certRecorderOf(ctx).recordHandshake(nil, err)
		return wrapError(err)
	}
	defer func() { _ = resp.Body.Close() }()
	certRecorderOf(ctx).recordHandshake(resp.TLS, nil)
	if !c.expected(resp.StatusCode) {
		return &Error{Message: fmt.Sprintf("HTTP %d from %s", resp.StatusCode, c.what)}
	}
	// Read what a health endpoint sends, up to the bound, so that a body
	// that never arrives fails like a response that never arrives.
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	if err != nil {
		ce := wrapError(err)
		return &Error{Message: ce.Message + " reading the body from " + c.what, Err: err}
	}
	switch {
	case c.body != nil && !bytes.Contains(body, c.body):
		return &Error{Message: "HTTP body from " + c.what + " does not contain " + excerpt(c.body)}
	case c.bodyRegex != nil && !c.bodyRegex.Match(body):
		return &Error{Message: "HTTP body from " + c.what + " does not match " + excerpt([]byte(c.bodyRegex.String()))}
	}
	return nil
}

func (c *httpChecker) expected(code int) bool {
	for _, r := range c.statuses {
		if code >= r.Min && code <= r.Max {
			return true
		}
	}
	return false
}

// hostOnly strips the port and IPv6 brackets from a Host header value.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]")
}

// maxRegexInstructions bounds the program an expectBodyRegex compiles to.
// RE2 matches in time linear in the body times the program, and a short
// expression with bounded repeats (`.{0,999}` sixty times over, 485 bytes)
// compiles to tens of thousands of instructions: a match over a 4 KiB body
// then takes seconds of CPU, and regexp takes no context to stop it. A
// health check's pattern needs a few hundred at most.
const maxRegexInstructions = 5000

// compileBodyRegex compiles expr once per Checker, refusing a program
// too large to match within a probe's budget.
func compileBodyRegex(expr string) (*regexp.Regexp, error) {
	parsed, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, err
	}
	prog, err := syntax.Compile(parsed.Simplify())
	if err != nil {
		return nil, err
	}
	if n := len(prog.Inst); n > maxRegexInstructions {
		return nil, fmt.Errorf("too complex: compiles to %d instructions, at most %d (bounded repeats such as {0,999} multiply)", n, maxRegexInstructions)
	}
	return regexp.Compile(expr)
}
