package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/klog/v2"

	"github.com/crddemo/crddemo/pkg/metrics"
)

// startServers serves /metrics and /healthz + /readyz on their addresses
// ("0" disables one). It fails at once if an address cannot be bound, so a
// port clash is a start-up error, not a log line later.
func startServers(ctx context.Context, opts *options, watchdog *leaderelection.HealthzAdaptor, ready func() error) (func(), error) {
	var servers []*http.Server
	stopAll := func() {
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		for _, s := range servers {
			_ = s.Shutdown(shutdownCtx)
		}
	}
	serve := func(addr, what string, handler http.Handler) error {
		if addr == "0" || addr == "" {
			return nil
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("serving %s on %s: %w", what, addr, err)
		}
		s := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, s)
		go func() {
			if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				klog.FromContext(ctx).Error(err, "HTTP server stopped", "what", what, "address", addr)
			}
		}()
		klog.FromContext(ctx).Info("Serving", "what", what, "address", ln.Addr().String())
		return nil
	}

	metricsMux := http.NewServeMux()
	metricsMux.Handle("/metrics", metrics.Handler())
	if opts.profiling {
		// Registered on this mux by hand: net/http/pprof's own
		// registration is on http.DefaultServeMux, which is not served.
		metricsMux.HandleFunc("/debug/pprof/", pprof.Index)
		metricsMux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		metricsMux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		metricsMux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		metricsMux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	if err := serve(opts.metricsBindAddress, "metrics", metricsMux); err != nil {
		stopAll()
		return nil, err
	}

	healthMux := http.NewServeMux()
	healthMux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if watchdog != nil {
			if err := watchdog.Check(r); err != nil {
				http.Error(w, "leader election: "+err.Error(), http.StatusInternalServerError)
				return
			}
		}
		_, _ = w.Write([]byte("ok"))
	})
	healthMux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := ready(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	if err := serve(opts.healthProbeBindAddress, "health probes", healthMux); err != nil {
		stopAll()
		return nil, err
	}
	return stopAll, nil
}

// randomSuffix makes the leader identity unique even when two replicas
// share a hostname (two local runs).
func randomSuffix() string {
	return string(uuid.NewUUID())[:8]
}
