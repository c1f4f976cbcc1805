package main

// The probe engine on its own, in this process: many targets on test
// hosts (network namespaces this run creates), some of them black-holed,
// with no control plane. It measures how late probes start against their
// schedule, the CPU per 1,000 probes of each kind, and the TIME_WAIT
// sockets left on this side while probing.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"k8s.io/client-go/tools/cache"

	"github.com/crddemo/crddemo/pkg/probe"
	"github.com/crddemo/crddemo/pkg/probe/check"
	"github.com/crddemo/crddemo/test/testhost"
)

// engineConfig is one engine run.
type engineConfig struct {
	Targets     int
	BlackHoled  float64 // fraction of Targets on a black-holed host
	Period      time.Duration
	Timeout     time.Duration
	Concurrency int
	Namespaces  int
	Kind        check.Kind
	Warmup      time.Duration
	Measure     time.Duration
}

// engineResult is what one run measured over its Measure window.
type engineResult struct {
	Config       engineConfig
	Probes       int64
	Late         int64 // probes that started more than 1 s late
	P50, P99     time.Duration
	Max          time.Duration
	CPU          time.Duration // user + system of the whole process
	CPUPer1000   time.Duration
	TimeWait     int
	ProbesPerSec float64
}

func (r engineResult) String() string {
	c := r.Config
	return fmt.Sprintf("%s: %d targets (%.0f %% black-holed, timeout %v) every %v, concurrency %d, %d namespaces: "+
		"%d probes in %v (%.0f/s), lateness p50 %v p99 %v max %v, %d started >1 s late, CPU %v (%v per 1,000 probes), TIME_WAIT %d",
		c.Kind, c.Targets, 100*c.BlackHoled, c.Timeout, c.Period, c.Concurrency, c.Namespaces,
		r.Probes, c.Measure, r.ProbesPerSec, r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Max.Round(time.Millisecond),
		r.Late, r.CPU.Round(time.Millisecond), r.CPUPer1000.Round(time.Microsecond), r.TimeWait)
}

// engineHosts are the test hosts of the engine runs: one answering, one
// black-holed, both created by this run.
type engineHosts struct {
	up, down *testhost.Host
	ports    []int // served (TCP) on up
	lns      []net.Listener
	closers  []func()
	caPEM    []byte
}

const (
	engineBasePort = 20000
	engineAddrs    = 4000 // addresses used per host (a /20 has 4,094)
)

func newEngineHosts(ctx context.Context, tcpPorts int) (*engineHosts, error) {
	up, err := testhost.New(ctx, testhost.Options{})
	if err != nil {
		return nil, err
	}
	down, err := testhost.New(ctx, testhost.Options{})
	if err != nil {
		_ = up.Close()
		return nil, err
	}
	h := &engineHosts{up: up, down: down}
	if err := down.BlackHole(); err != nil {
		h.close()
		return nil, err
	}
	for i := range tcpPorts {
		if err := up.Serve(engineBasePort + i); err != nil {
			h.close()
			return nil, err
		}
		h.ports = append(h.ports, engineBasePort+i)
	}
	return h, nil
}

// Ports of the application servers on the answering host.
const (
	enginePortHTTP  = 19001
	enginePortHTTPS = 19002
	enginePortGRPC  = 19003
)

// serveApps starts an HTTP, an HTTPS and a gRPC health server on up.
func (h *engineHosts) serveApps() error {
	listen := func(port int) (net.Listener, error) {
		ln, err := h.up.Listen(port)
		if err == nil {
			h.lns = append(h.lns, ln)
		}
		return ln, err
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})
	ln, err := listen(enginePortHTTP)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: ok, ReadHeaderTimeout: 5 * time.Second, ErrorLog: nil}
	go func(ln net.Listener) { _ = hs.Serve(ln) }(ln)
	h.closers = append(h.closers, func() { _ = hs.Close() })

	cert, caPEM, err := selfSigned("bench.probe.test")
	if err != nil {
		return err
	}
	h.caPEM = caPEM
	ln, err = listen(enginePortHTTPS)
	if err != nil {
		return err
	}
	hss := &http.Server{Handler: ok, ReadHeaderTimeout: 5 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	go func(ln net.Listener) { _ = hss.ServeTLS(ln, "", "") }(ln)
	h.closers = append(h.closers, func() { _ = hss.Close() })

	ln, err = listen(enginePortGRPC)
	if err != nil {
		return err
	}
	gs := grpc.NewServer()
	healthpb.RegisterHealthServer(gs, health.NewServer())
	go func(ln net.Listener) { _ = gs.Serve(ln) }(ln)
	h.closers = append(h.closers, gs.Stop)
	return nil
}

func (h *engineHosts) close() {
	for _, c := range h.closers {
		c()
	}
	for _, ln := range h.lns {
		_ = ln.Close()
	}
	if h.up != nil {
		_ = h.up.Close()
	}
	if h.down != nil {
		_ = h.down.Close()
	}
}

// targets lays the run's targets out over the hosts' addresses and ports.
func (h *engineHosts) targets(cfg engineConfig) []probe.Target {
	spec := check.Spec{Kind: cfg.Kind}
	port := func(i int) int { return h.ports[(i/engineAddrs)%len(h.ports)] }
	switch cfg.Kind {
	case check.KindHTTP:
		spec.HTTP = &check.HTTPSpec{Path: "/healthz"}
		port = func(int) int { return enginePortHTTP }
	case check.KindHTTPS:
		spec.HTTP = &check.HTTPSpec{Path: "/healthz"}
		spec.TLS = &check.TLSSpec{ServerName: "bench.probe.test", CABundle: h.caPEM}
		port = func(int) int { return enginePortHTTPS }
	case check.KindGRPC:
		port = func(int) int { return enginePortGRPC }
	}
	black := int(float64(cfg.Targets) * cfg.BlackHoled)
	out := make([]probe.Target, cfg.Targets)
	for i := range out {
		// Every tenth target (for 10 %) is black-holed, so each namespace
		// gets its part of them.
		isBlack := black > 0 && i%(cfg.Targets/black) == 0 && i/(cfg.Targets/black) < black
		var addr string
		if isBlack {
			addr = net.JoinHostPort(h.down.Addr(1+i%engineAddrs).String(), fmt.Sprint(engineBasePort+(i/engineAddrs)%64))
		} else {
			addr = net.JoinHostPort(h.up.Addr(1+i%engineAddrs).String(), fmt.Sprint(port(i)))
		}
		out[i] = probe.Target{
			Address: addr, Spec: spec, Period: cfg.Period, Timeout: cfg.Timeout,
			SuccessThreshold: 1, FailureThreshold: 3,
			// As after a restart: the first probes spread over a period.
			Seed: probe.State{Reachability: probe.Reachable},
		}
	}
	return out
}

// runEngine runs one engine configuration on hosts and measures it.
func runEngine(ctx context.Context, hosts *engineHosts, cfg engineConfig, logf func(string, ...any)) (engineResult, error) {
	var (
		mu        sync.Mutex
		measuring atomic.Bool
		lateness  = make([]time.Duration, 0, int(float64(cfg.Targets)*cfg.Measure.Seconds()/cfg.Period.Seconds()*1.2))
		probes    atomic.Int64
		late      atomic.Int64
	)
	p := probe.New(probe.Options{
		Concurrency: cfg.Concurrency,
		ObserveLateness: func(d time.Duration) {
			if !measuring.Load() {
				return
			}
			mu.Lock()
			lateness = append(lateness, d)
			mu.Unlock()
		},
		Observe: func(string, time.Duration) {
			if measuring.Load() {
				probes.Add(1)
			}
		},
		// Every late probe, whatever its cause, as before the
		// prober told them apart.
		ObserveSaturated: func(string) {
			if measuring.Load() {
				late.Add(1)
			}
		},
	})
	targets := hosts.targets(cfg)
	for i, t := range targets {
		// Groups of ten consecutive targets (one of them black-holed)
		// per namespace, so every tenant has its share of the dead ones.
		key := cache.ObjectName{Namespace: fmt.Sprintf("tenant-%03d", (i/10)%cfg.Namespaces), Name: fmt.Sprintf("md-%06d", i)}
		p.Sync(key, []probe.Target{t})
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Run(runCtx)
	}()
	defer func() {
		cancel()
		<-done
	}()

	logf("engine %s: %d targets, warming up for %v", cfg.Kind, cfg.Targets, cfg.Warmup)
	if err := sleepCtx(ctx, cfg.Warmup); err != nil {
		return engineResult{}, err
	}
	cpu0 := processCPU()
	measuring.Store(true)
	start := time.Now()
	if err := sleepCtx(ctx, cfg.Measure/2); err != nil {
		return engineResult{}, err
	}
	tw := countTimeWait(hosts.up.Subnet, hosts.down.Subnet)
	if err := sleepCtx(ctx, cfg.Measure-cfg.Measure/2); err != nil {
		return engineResult{}, err
	}
	measuring.Store(false)
	elapsed := time.Since(start)
	cpu := processCPU() - cpu0

	// The verdicts, as a check that the run probed what it meant to.
	verdicts := map[string]int{}
	for i, t := range targets {
		key := cache.ObjectName{Namespace: fmt.Sprintf("tenant-%03d", (i/10)%cfg.Namespaces), Name: fmt.Sprintf("md-%06d", i)}
		st := p.Sync(key, []probe.Target{t})[0]
		verdicts[st.Reachability.String()+" "+st.Message]++
	}
	logf("engine %s: verdicts %v", cfg.Kind, verdicts)

	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lateness)
	pct := func(q float64) time.Duration {
		if len(lateness) == 0 {
			return 0
		}
		return lateness[min(len(lateness)-1, int(q*float64(len(lateness))))]
	}
	r := engineResult{Config: cfg, Probes: probes.Load(), Late: late.Load(), P50: pct(0.50), P99: pct(0.99), CPU: cpu, TimeWait: tw}
	if len(lateness) > 0 {
		r.Max = lateness[len(lateness)-1]
	}
	r.Config.Measure = elapsed.Round(time.Second)
	r.ProbesPerSec = float64(r.Probes) / elapsed.Seconds()
	if r.Probes > 0 {
		r.CPUPer1000 = time.Duration(float64(cpu) / float64(r.Probes) * 1000)
	}
	return r, nil
}

// processCPU is the user and system time of this process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// countTimeWait counts the TIME_WAIT sockets of this network namespace
// (the prober's side: the namespace a controller would run in) whose peer
// is in one of subnets, so that other programs' sockets do not count.
func countTimeWait(subnets ...netip.Prefix) int {
	n := 0
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fields := strings.Fields(line)
			if len(fields) <= 3 || fields[3] != "06" {
				continue
			}
			// rem_address is the IPv4 address in little-endian hex.
			remote, _, _ := strings.Cut(fields[2], ":")
			b, err := hex.DecodeString(remote)
			if err != nil || len(b) != 4 {
				continue
			}
			a := netip.AddrFrom4([4]byte{b[3], b[2], b[1], b[0]})
			for _, s := range subnets {
				if s.Contains(a) {
					n++
				}
			}
		}
	}
	return n
}

// selfSigned makes a certificate for name that is its own CA.
func selfSigned(name string) (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		DNSNames:              []string{name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// engineBench runs the scale measurement (item 9 of the application-probe
// issue) and one CPU measurement per probe kind, and prints them.
func engineBench(ctx context.Context, scale engineConfig, perKind engineConfig, logf func(string, ...any)) ([]engineResult, error) {
	tcpPorts := (scale.Targets + engineAddrs - 1) / engineAddrs
	hosts, err := newEngineHosts(ctx, tcpPorts)
	if err != nil {
		return nil, err
	}
	defer hosts.close()
	if err := hosts.serveApps(); err != nil {
		return nil, err
	}
	// One probe of each kind first: a run that measures failures it did
	// not mean to would be worthless.
	for _, k := range []check.Kind{check.KindTCP, check.KindHTTP, check.KindHTTPS, check.KindGRPC} {
		c := perKind
		c.Kind, c.Targets = k, 1
		t := hosts.targets(c)[0]
		checker, err := check.New(t.Spec, nil)
		if err != nil {
			return nil, err
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		t0 := time.Now()
		err = checker.Check(cctx, netip.MustParseAddrPort(t.Address))
		cancel()
		if err != nil {
			return nil, fmt.Errorf("a single %s probe of %s fails: %w (%v)", k, t.Address, err, errors.Unwrap(err))
		}
		logf("a single %s probe of %s passed in %v", k, t.Address, time.Since(t0))
	}
	var results []engineResult
	r, err := runEngine(ctx, hosts, scale, logf)
	if err != nil {
		return nil, err
	}
	logf("%s", r)
	results = append(results, r)
	for _, k := range []check.Kind{check.KindTCP, check.KindHTTP, check.KindHTTPS, check.KindGRPC} {
		c := perKind
		c.Kind = k
		r, err := runEngine(ctx, hosts, c, logf)
		if err != nil {
			return nil, err
		}
		logf("%s", r)
		results = append(results, r)
	}
	return results, nil
}

// engineMain is the -engine mode: the engine measurement only, in this
// process, bounded by its configured windows.
func engineMain(ctx context.Context, targets, concurrency int, measure time.Duration, logf func(string, ...any)) int {
	scale := engineConfig{
		Targets: targets, BlackHoled: 0.1, Period: 10 * time.Second, Timeout: time.Second,
		Concurrency: concurrency, Namespaces: 100, Kind: check.KindTCP,
		Warmup: 15 * time.Second, Measure: measure,
	}
	// 500 probes a second of each kind: enough to measure, little enough
	// for two busy cores to keep up with HTTPS.
	perKind := engineConfig{
		Targets: 1000, Period: 2 * time.Second, Timeout: time.Second,
		Concurrency: 200, Namespaces: 10, Warmup: 4 * time.Second, Measure: 10 * time.Second,
	}
	results, err := engineBench(ctx, scale, perKind, logf)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: engine: %v\n", err)
		return 1
	}
	fmt.Println()
	for _, r := range results {
		fmt.Println(r)
	}
	code := 0
	if s := results[0]; s.P99 > time.Second {
		fmt.Printf("\nFAIL: p99 lateness %v at %d targets exceeds 1 s beyond the period\n", s.P99, s.Config.Targets)
		code = 1
	}
	return code
}
