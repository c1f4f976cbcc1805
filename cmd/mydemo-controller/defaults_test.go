package main

import (
	"sort"
	"testing"

	"github.com/spf13/pflag"
	logsapi "k8s.io/component-base/logs/api/v1"

	"github.com/crddemo/crddemo/pkg/controller"
	"github.com/crddemo/crddemo/pkg/probe"
	"github.com/crddemo/crddemo/pkg/resolve"
)

// TestFlagDefaultsAreTheEngines: with no arguments, every flag that sets
// something the engines also default defaults to the engine's value, taken
// from the engine, so that running the controller and embedding the
// engines (tests, benchmarks) behave alike. Every other flag is listed
// with why the flag is the only home of its default; a new flag must be
// added to one list or the other.
func TestFlagDefaultsAreTheEngines(t *testing.T) {
	o := newOptions()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	o.addFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	engine := map[string]struct{ flag, engine any }{
		// probe.Options.Concurrency <= 0 means probe.DefaultConcurrency.
		"probe-concurrency": {o.probeConcurrency, probe.DefaultConcurrency},
		// The zero probe.Options damps flaps.
		"flap-damping": {o.flapDamping, !probe.Options{}.DisableFlapDamping},
		// controller.Options.CertificateExpiryWarning <= 0 means
		// controller.DefaultCertificateExpiryWarning.
		"certificate-expiry-warning": {o.certExpiryWarning, controller.DefaultCertificateExpiryWarning},
		// The zero resolve.Options asks the system's resolver.
		"dns-server": {o.dnsServer, resolve.Options{}.Server},
	}
	onlyHome := map[string]string{
		"kubeconfig":                      "where the process finds the API server: nothing below the command has a default",
		"master":                          "where the process finds the API server: nothing below the command has a default",
		"namespace":                       "operator.Config.Namespace's zero value, all namespaces, is the flag's default",
		"workers":                         "operator.New requires at least one worker and defaults none",
		"service-cidrs":                   "policy.Options' zero value, no extra range, is the flag's default",
		"denied-cidrs":                    "policy.Options' zero value, no extra range, is the flag's default",
		"kube-api-qps":                    "the engines take a rest.Config as given; client-go's own default (5) is not ours",
		"kube-api-burst":                  "the engines take a rest.Config as given; client-go's own default (10) is not ours",
		"resync-period":                   "operator.Config.ResyncPeriod has no default: zero means no resync",
		"leader-elect":                    "leader election lives in this command only",
		"sharding":                        "operator.Config.Sharding's zero value (nil), no sharding, is the flag's default",
		"leader-elect-lease-duration":     "leader election lives in this command only (client-go requires every duration)",
		"leader-elect-renew-deadline":     "leader election lives in this command only (client-go requires every duration)",
		"leader-elect-retry-period":       "leader election lives in this command only (client-go requires every duration)",
		"leader-elect-resource-namespace": "leader election lives in this command only",
		"leader-elect-resource-name":      "leader election lives in this command only; deploy/leader-election-role.yaml names the Lease",
		"metrics-bind-address":            "the HTTP servers live in this command only",
		"health-probe-bind-address":       "the HTTP servers live in this command only",
		"profiling":                       "the HTTP servers live in this command only",
		"version":                         "not a setting",
	}
	for name, d := range engine {
		if d.flag != d.engine {
			t.Errorf("--%s defaults to %v, the engine to %v", name, d.flag, d.engine)
		}
	}

	// The logging flags are component-base's, defaulted by it.
	logging := pflag.NewFlagSet("logging", pflag.ContinueOnError)
	logsapi.AddFlags(logsapi.NewLoggingConfiguration(), logging)
	var unlisted []string
	fs.VisitAll(func(f *pflag.Flag) {
		_, paired := engine[f.Name]
		_, alone := onlyHome[f.Name]
		if !paired && !alone && logging.Lookup(f.Name) == nil {
			unlisted = append(unlisted, f.Name)
		}
	})
	for name := range engine {
		if fs.Lookup(name) == nil {
			unlisted = append(unlisted, name+" (listed, but no such flag)")
		}
	}
	for name := range onlyHome {
		if fs.Lookup(name) == nil {
			unlisted = append(unlisted, name+" (listed, but no such flag)")
		}
	}
	sort.Strings(unlisted)
	if len(unlisted) > 0 {
		t.Errorf("flags neither compared with an engine default nor said to be its only home: %v", unlisted)
	}
}
