package framework

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/miekg/dns"
)

const (
	// corednsBinaryName is CoreDNS as `make coredns` writes it to the bin
	// directory.
	corednsBinaryName = "coredns"
	// ClusterDomain is the cluster domain the CoreDNS of StartCoreDNS
	// serves, as a kubelet's --cluster-domain would name it.
	ClusterDomain = "cluster.local"
	// corednsAttempts is how many free ports StartCoreDNS tries: the
	// kernel's free TCP port may have a UDP twin in use.
	corednsAttempts = 5
	// corednsReadyTimeout bounds the wait for CoreDNS to answer the API
	// server's own Service, which it does only once its kubernetes
	// plugin has synced with the API server.
	corednsReadyTimeout = 30 * time.Second
)

// CoreDNS is a running CoreDNS serving cluster DNS for a control plane
// from its API server (the kubernetes plugin), on a loopback port.
type CoreDNS struct {
	*Process
	// Addr is the "127.0.0.1:port" it answers on, over UDP and TCP.
	Addr string
	// TTL is the TTL of its answers and the longest its cache keeps one:
	// a change in the API server shows in answers within TTL of CoreDNS
	// seeing it.
	TTL time.Duration
}

// StartCoreDNS starts bin/coredns with its kubernetes plugin reading the
// cluster through kubeconfig, answering for ClusterDomain on 127.0.0.1 at
// a free port, with answers of ttl (whole seconds, at least 1) cached at
// most as long. Its Corefile and log go into dir. It returns once CoreDNS
// answers the API server's own Service (kubernetes.default).
func StartCoreDNS(ctx context.Context, kubeconfig, dir string, ttl time.Duration) (*CoreDNS, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	bin = filepath.Join(bin, corednsBinaryName)
	if err := checkExecutable(bin, "make coredns"); err != nil {
		return nil, err
	}
	secs := max(int(ttl/time.Second), 1)
	var lastErr error
	for attempt := range corednsAttempts {
		ports, err := FreePorts(1)
		if err != nil {
			return nil, err
		}
		addr := net.JoinHostPort(loopback, strconv.Itoa(ports[0]))
		conf := filepath.Join(dir, fmt.Sprintf("Corefile-%d", attempt))
		if err := os.WriteFile(conf, []byte(corefile(ports[0], kubeconfig, secs)), 0o644); err != nil {
			return nil, fmt.Errorf("coredns: write its Corefile: %w", err)
		}
		proc, err := newProcess("coredns", bin, []string{"-conf", conf}, filepath.Join(dir, "coredns.log"))
		if err != nil {
			return nil, err
		}
		c := &CoreDNS{Process: proc, Addr: addr, TTL: time.Duration(secs) * time.Second}
		lastErr = c.waitReady(ctx)
		if lastErr == nil {
			return c, nil
		}
		_ = c.Kill()
		if !c.proc.bindClash() {
			return nil, fmt.Errorf("%w%s", lastErr, c.Tail(20))
		}
	}
	return nil, fmt.Errorf("coredns: no free port in %d attempts: %w", corednsAttempts, lastErr)
}

// corefile is CoreDNS's configuration: cluster DNS for ClusterDomain and
// the reverse zones from the API server, nothing forwarded anywhere (a
// name outside them is refused), every query logged. The server block
// names the reverse zones too: a zone the kubernetes plugin lists but the
// block does not is refused before the plugin sees it.
func corefile(port int, kubeconfig string, ttl int) string {
	return fmt.Sprintf(`%[1]s:%[2]d in-addr.arpa:%[2]d ip6.arpa:%[2]d {
	bind %s
	errors
	log
	cache %d
	kubernetes %s in-addr.arpa ip6.arpa {
		kubeconfig %s
		ttl %d
	}
}
`, ClusterDomain, port, loopback, ttl, ClusterDomain, kubeconfig, ttl)
}

// waitReady waits until CoreDNS answers kubernetes.default with an
// address, or exits, or the timeout passes.
func (c *CoreDNS) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, corednsReadyTimeout)
	defer cancel()
	name := "kubernetes.default.svc." + ClusterDomain
	for {
		if !c.Running() {
			return fmt.Errorf("coredns exited: %w", c.ExitErr())
		}
		resp, err := c.Query(ctx, name, dns.TypeA)
		if err == nil && len(resp.Answer) > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(fmt.Errorf("coredns did not answer %s within %s", name, corednsReadyTimeout), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Query asks CoreDNS (and nothing else) for name's records of type qtype
// over UDP, and returns its answer whatever the rcode.
func (c *CoreDNS) Query(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	client := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	resp, _, err := client.ExchangeContext(ctx, m, c.Addr)
	if err != nil {
		return nil, fmt.Errorf("coredns: query %s %s: %w", name, dns.TypeToString[qtype], err)
	}
	return resp, nil
}
