package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	logsapi "k8s.io/component-base/logs/api/v1"

	"github.com/crddemo/crddemo/pkg/controller"
	"github.com/crddemo/crddemo/pkg/probe"
)

// options are the command-line flags. Defaults are sized for thousands of
// Mydemos (see docs/benchmarks.md).
type options struct {
	kubeconfig string
	master     string
	namespace  string

	workers          int
	probeConcurrency int
	flapDamping      bool
	dnsServer        string
	qps              float32
	burst            int
	resyncPeriod     time.Duration
	serviceCIDRs     []string
	deniedCIDRs      []string
	// certExpiryWarning: --certificate-expiry-warning.
	certExpiryWarning time.Duration

	leaderElect             bool
	sharding                bool
	leaseDuration           time.Duration
	renewDeadline           time.Duration
	retryPeriod             time.Duration
	leaderElectResourceNS   string
	leaderElectResourceName string
	metricsBindAddress      string
	healthProbeBindAddress  string
	profiling               bool

	version bool
	logs    *logsapi.LoggingConfiguration
}

func newOptions() *options {
	return &options{
		workers:                 8,
		probeConcurrency:        probe.DefaultConcurrency,
		certExpiryWarning:       controller.DefaultCertificateExpiryWarning,
		flapDamping:             true,
		qps:                     200,
		burst:                   400,
		resyncPeriod:            10 * time.Minute,
		leaderElect:             true,
		leaseDuration:           15 * time.Second,
		renewDeadline:           10 * time.Second,
		retryPeriod:             2 * time.Second,
		leaderElectResourceName: "mydemo-controller",
		metricsBindAddress:      ":8080",
		healthProbeBindAddress:  ":8081",
		logs:                    logsapi.NewLoggingConfiguration(),
	}
}

func (o *options) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.kubeconfig, "kubeconfig", o.kubeconfig, "Path to a kubeconfig. Without it: $KUBECONFIG, then the in-cluster configuration, then ~/.kube/config.")
	fs.StringVar(&o.master, "master", o.master, "The address of the API server; overrides the server in the kubeconfig.")
	fs.StringVar(&o.namespace, "namespace", o.namespace, "Watch Mydemos in this namespace only. Default: all namespaces.")
	fs.IntVar(&o.workers, "workers", o.workers, "Number of Mydemos synced concurrently.")
	fs.IntVar(&o.probeConcurrency, "probe-concurrency", o.probeConcurrency, "Maximum number of TCP probes in flight at once.")
	fs.BoolVar(&o.flapDamping, "flap-damping", o.flapDamping, "Hold an endpoint that keeps going down and up out of rotation for longer each time (from its third flap without 10 minutes up: 30 s, doubling to 5 min).")
	fs.StringSliceVar(&o.serviceCIDRs, "service-cidrs", o.serviceCIDRs, "Service ranges no Mydemo may publish or have probed, besides those of the cluster's ServiceCIDR objects (comma-separated CIDRs; needed only where the ServiceCIDR API is not served).")
	fs.StringSliceVar(&o.deniedCIDRs, "denied-cidrs", o.deniedCIDRs, "More ranges no Mydemo may publish or have probed, such as Pod ranges a CNI does not record on Node objects (comma-separated CIDRs).")
	fs.DurationVar(&o.certExpiryWarning, "certificate-expiry-warning", o.certExpiryWarning, "How close the earliest certificate a Mydemo's TLS probes see may come to its expiry before its CertificateValid condition turns False and a Warning Event CertificateExpiring is sent (default 14 days).")
	fs.StringVar(&o.dnsServer, "dns-server", o.dnsServer, "host:port of the DNS server that resolves spec.endpoints[].hostname (default: the system's resolver configuration).")
	fs.Float32Var(&o.qps, "kube-api-qps", o.qps, "Queries per second to the API server, for each of the controller's clients (Kubernetes objects, Mydemos, Events).")
	fs.IntVar(&o.burst, "kube-api-burst", o.burst, "Burst of queries to the API server above --kube-api-qps.")
	fs.DurationVar(&o.resyncPeriod, "resync-period", o.resyncPeriod, "How often every Mydemo is re-checked even without a change (0 disables).")
	fs.BoolVar(&o.leaderElect, "leader-elect", o.leaderElect, "Elect a leader on a Lease so that only one replica works at a time.")
	fs.BoolVar(&o.sharding, "sharding", o.sharding, "Share the Mydemos among all replicas instead of electing a leader: each replica keeps a Lease of its own (named after --leader-elect-resource-name, in its namespace, timed by the --leader-elect-* durations) and syncs and probes only its share; --leader-elect is then ignored.")
	fs.DurationVar(&o.leaseDuration, "leader-elect-lease-duration", o.leaseDuration, "How long a standby waits after the last renewal before taking the lease (with --sharding: before the others take a silent replica's share).")
	fs.DurationVar(&o.renewDeadline, "leader-elect-renew-deadline", o.renewDeadline, "How long the leader retries renewing before it gives up leading. Must be less than the lease duration.")
	fs.DurationVar(&o.retryPeriod, "leader-elect-retry-period", o.retryPeriod, "How long to wait between attempts to acquire or renew the lease.")
	fs.StringVar(&o.leaderElectResourceNS, "leader-elect-resource-namespace", o.leaderElectResourceNS, "Namespace of the Lease. Default: the Pod's namespace in a cluster, otherwise \"default\".")
	fs.StringVar(&o.leaderElectResourceName, "leader-elect-resource-name", o.leaderElectResourceName, "Name of the Lease.")
	fs.StringVar(&o.metricsBindAddress, "metrics-bind-address", o.metricsBindAddress, "Address of the Prometheus /metrics endpoint; \"0\" disables it.")
	fs.BoolVar(&o.profiling, "profiling", o.profiling, "Serve Go's pprof handlers under /debug/pprof/ on the metrics address. Off by default: that address has no authentication, and a CPU profile costs CPU while it runs.")
	fs.StringVar(&o.healthProbeBindAddress, "health-probe-bind-address", o.healthProbeBindAddress, "Address of /healthz and /readyz; \"0\" disables it.")
	fs.BoolVar(&o.version, "version", false, "Print the version and exit.")
	logsapi.AddFlags(o.logs, fs)
}

// validate returns the first inconsistency in the flags, in one line.
func (o *options) validate() error {
	switch {
	case o.workers < 1:
		return fmt.Errorf("--workers must be at least 1, got %d", o.workers)
	case o.dnsServer != "" && !validHostPort(o.dnsServer):
		return fmt.Errorf("--dns-server must be host:port, such as 10.96.0.10:53, got %q", o.dnsServer)
	case o.probeConcurrency < 1:
		return fmt.Errorf("--probe-concurrency must be at least 1, got %d", o.probeConcurrency)
	case o.qps <= 0:
		return fmt.Errorf("--kube-api-qps must be positive, got %g", o.qps)
	case o.burst < 1:
		return fmt.Errorf("--kube-api-burst must be at least 1, got %d", o.burst)
	case float32(o.burst) < o.qps:
		return fmt.Errorf("--kube-api-burst (%d) must not be less than --kube-api-qps (%g)", o.burst, o.qps)
	case o.resyncPeriod < 0:
		return fmt.Errorf("--resync-period must not be negative, got %s", o.resyncPeriod)
	case o.certExpiryWarning <= 0:
		return fmt.Errorf("--certificate-expiry-warning must be positive, got %s", o.certExpiryWarning)
	}
	if _, err := parseCIDRs("--service-cidrs", o.serviceCIDRs); err != nil {
		return err
	}
	if _, err := parseCIDRs("--denied-cidrs", o.deniedCIDRs); err != nil {
		return err
	}
	if o.leaderElect || o.sharding {
		switch {
		case o.retryPeriod <= 0:
			return fmt.Errorf("--leader-elect-retry-period must be positive, got %s", o.retryPeriod)
		case o.renewDeadline <= o.retryPeriod:
			return fmt.Errorf("--leader-elect-renew-deadline (%s) must be greater than --leader-elect-retry-period (%s)", o.renewDeadline, o.retryPeriod)
		case o.leaseDuration <= o.renewDeadline:
			return fmt.Errorf("--leader-elect-lease-duration (%s) must be greater than --leader-elect-renew-deadline (%s)", o.leaseDuration, o.renewDeadline)
		case o.leaderElectResourceName == "":
			return fmt.Errorf("--leader-elect-resource-name must not be empty")
		}
	}
	if o.profiling && (o.metricsBindAddress == "0" || o.metricsBindAddress == "") {
		return fmt.Errorf("--profiling serves on the metrics address, but --metrics-bind-address is %q", o.metricsBindAddress)
	}
	if o.metricsBindAddress != "0" && o.metricsBindAddress == o.healthProbeBindAddress {
		return fmt.Errorf("--metrics-bind-address and --health-probe-bind-address must differ, both are %q", o.metricsBindAddress)
	}
	return nil
}

// leaseNamespace is where the Lease lives: the flag, else the namespace the
// Pod runs in, else "default" (a local run).
func (o *options) leaseNamespace() string {
	if o.leaderElectResourceNS != "" {
		return o.leaderElectResourceNS
	}
	if data, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil {
		if ns := strings.TrimSpace(string(data)); ns != "" {
			return ns
		}
	}
	return "default"
}

// parseCIDRs parses the CIDRs of flag; an entry with host bits set is an
// error, since it is most likely a typo for another range.
func parseCIDRs(flag string, in []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(in))
	for _, s := range in {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not a CIDR such as 10.96.0.0/12 or fd00:10:96::/112", flag, s)
		}
		if p != p.Masked() {
			return nil, fmt.Errorf("%s: %q has bits set past its prefix length; did you mean %s?", flag, s, p.Masked())
		}
		out = append(out, p)
	}
	return out, nil
}

// validHostPort reports whether s is host:port with a numeric port.
func validHostPort(s string) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n > 0 && n < 65536
}
