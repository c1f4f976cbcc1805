package framework

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

const (
	etcdStartTimeout = 30 * time.Second
	// startAttempts bounds the retries when a freshly picked port is taken
	// by someone else before the component binds it.
	startAttempts = 5
)

// etcdServer is the single-member etcd cluster behind the API server.
type etcdServer struct {
	proc      *process
	clientURL string
}

// startEtcd starts etcd with its data in dir and waits until it is healthy,
// picking new ports if the chosen ones turn out to be taken.
func startEtcd(ctx context.Context, binPath, dir string, logf func(string, ...any)) (*etcdServer, error) {
	dataDir := filepath.Join(dir, "etcd")
	logPath := filepath.Join(dir, "etcd.log")
	var lastErr error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		ports, err := FreePorts(2)
		if err != nil {
			return nil, err
		}
		// A failed attempt may have initialised the data directory with the
		// old peer URL; start from scratch.
		if err := os.RemoveAll(dataDir); err != nil {
			return nil, fmt.Errorf("etcd: clear data directory: %w", err)
		}
		clientURL := "http://" + net.JoinHostPort(loopback, strconv.Itoa(ports[0]))
		peerURL := "http://" + net.JoinHostPort(loopback, strconv.Itoa(ports[1]))
		args := []string{
			"--name=crddemo",
			"--data-dir=" + dataDir,
			"--listen-client-urls=" + clientURL,
			"--advertise-client-urls=" + clientURL,
			"--listen-peer-urls=" + peerURL,
			"--initial-advertise-peer-urls=" + peerURL,
			"--initial-cluster=crddemo=" + peerURL,
			"--initial-cluster-state=new",
			// Durability is pointless for throw-away test data; skipping
			// fsync makes every write much faster.
			"--unsafe-no-fsync=true",
			"--log-level=warn",
		}
		logf("starting etcd on %s (attempt %d)", clientURL, attempt)
		proc, err := startProcess("etcd", binPath, args, logPath, logf)
		if err != nil {
			return nil, err
		}
		err = waitEtcdHealthy(ctx, proc, clientURL)
		if err == nil {
			return &etcdServer{proc: proc, clientURL: clientURL}, nil
		}
		clash := proc.exited() && proc.bindClash()
		tail := proc.logTail()
		if stopErr := proc.stop(stopGrace); stopErr != nil {
			logf("%v", stopErr)
		}
		lastErr = fmt.Errorf("etcd did not become healthy: %w%s", err, tail)
		if !clash || ctx.Err() != nil {
			return nil, lastErr
		}
		logf("etcd could not bind its ports, retrying with new ones")
	}
	return nil, lastErr
}

// waitEtcdHealthy polls etcd's /health endpoint.
func waitEtcdHealthy(ctx context.Context, proc *process, clientURL string) error {
	ctx, cancel := context.WithTimeout(ctx, etcdStartTimeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	var lastErr error
	for {
		if proc.exited() {
			return proc.exitError()
		}
		lastErr = etcdHealth(ctx, client, clientURL)
		if lastErr == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last check: %v)", ctx.Err(), lastErr)
		case <-proc.done:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func etcdHealth(ctx context.Context, client *http.Client, clientURL string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, clientURL+"/health", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return err
	}
	var health struct {
		Health string `json:"health"`
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal(body, &health); err != nil {
		return fmt.Errorf("decode /health response %q: %w", body, err)
	}
	if resp.StatusCode != http.StatusOK || health.Health != "true" {
		return fmt.Errorf("/health: status %d, health %q, reason %q", resp.StatusCode, health.Health, health.Reason)
	}
	return nil
}
