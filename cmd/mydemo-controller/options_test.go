package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		args    []string
		wantErr string
	}{
		"defaults":                {nil, ""},
		"no leader election":      {[]string{"--leader-elect=false", "--leader-elect-lease-duration=1s"}, ""},
		"sharding":                {[]string{"--sharding"}, ""},
		"sharding, bad timings":   {[]string{"--sharding", "--leader-elect=false", "--leader-elect-renew-deadline=20s"}, "must be greater than --leader-elect-renew-deadline"},
		"zero workers":            {[]string{"--workers=0"}, "--workers must be at least 1"},
		"zero probe concurrency":  {[]string{"--probe-concurrency=0"}, "--probe-concurrency must be at least 1"},
		"zero cert warning":       {[]string{"--certificate-expiry-warning=0"}, "--certificate-expiry-warning must be positive"},
		"negative qps":            {[]string{"--kube-api-qps=-1"}, "--kube-api-qps must be positive"},
		"burst below qps":         {[]string{"--kube-api-qps=100", "--kube-api-burst=10"}, "must not be less than --kube-api-qps"},
		"renew above lease":       {[]string{"--leader-elect-renew-deadline=20s"}, "--leader-elect-lease-duration (15s) must be greater than --leader-elect-renew-deadline (20s)"},
		"retry above renew":       {[]string{"--leader-elect-retry-period=12s"}, "must be greater than --leader-elect-retry-period"},
		"same metrics and health": {[]string{"--metrics-bind-address=:9000", "--health-probe-bind-address=:9000"}, "must differ"},
		"profiling":               {[]string{"--profiling"}, ""},
		"profiling, no metrics":   {[]string{"--profiling", "--metrics-bind-address=0"}, `--profiling serves on the metrics address, but --metrics-bind-address is "0"`},
		"negative resync":         {[]string{"--resync-period=-1s"}, "--resync-period must not be negative"},
		"cidr flags":              {[]string{"--service-cidrs=10.96.0.0/12,fd00:10:96::/112", "--denied-cidrs=10.200.0.0/16"}, ""},
		"bad denied cidr":         {[]string{"--denied-cidrs=10.200.0.0"}, `--denied-cidrs: "10.200.0.0" is not a CIDR`},
		"host bits in cidr":       {[]string{"--service-cidrs=10.96.0.1/12"}, "did you mean 10.96.0.0/12?"},
	} {
		t.Run(name, func(t *testing.T) {
			o := newOptions()
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			o.addFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			err := o.validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestRunExitCodes(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		want int
	}{
		"unknown flag":      {[]string{"--bogus"}, 2},
		"inconsistent flag": {[]string{"--workers=0"}, 2},
		"stray argument":    {[]string{"extra"}, 2},
		"version":           {[]string{"--version"}, 0},
		"help":              {[]string{"--help"}, 0},
	} {
		t.Run(name, func(t *testing.T) {
			if got := run(tc.args); got != tc.want {
				t.Errorf("exit code %d, want %d", got, tc.want)
			}
		})
	}
}

func TestRestConfigResolution(t *testing.T) {
	dir := t.TempDir()
	write := func(name, server string) string {
		p := filepath.Join(dir, name)
		data := "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: " + server +
			"\nusers:\n- name: u\n  user:\n    token: x\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\n"
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	flagFile := write("flag", "https://127.0.0.1:1001")
	envFile := write("env", "https://127.0.0.1:1002")
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBECONFIG", envFile)

	cfg, source, err := restConfig(flagFile, "")
	if err != nil || cfg.Host != "https://127.0.0.1:1001" || !strings.HasPrefix(source, "--kubeconfig") {
		t.Errorf("flag: %v %q %v", cfg, source, err)
	}
	cfg, _, err = restConfig(flagFile, "https://127.0.0.1:1003")
	if err != nil || cfg.Host != "https://127.0.0.1:1003" {
		t.Errorf("--master override: %v %v", cfg, err)
	}
	cfg, source, err = restConfig("", "")
	if err != nil || cfg.Host != "https://127.0.0.1:1002" || source != "$KUBECONFIG" {
		t.Errorf("env: %v %q %v", cfg, source, err)
	}
	t.Setenv("KUBECONFIG", "")
	if _, _, err = restConfig("", ""); err == nil || !strings.Contains(err.Error(), "no API server configuration") {
		t.Errorf("nothing configured: %v", err)
	}
}
