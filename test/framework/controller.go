package framework

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"time"
)

const (
	// controllerBinaryName is the operator's binary as `make build` writes
	// it to the bin directory.
	controllerBinaryName = "mydemo-controller"
	// requestTimeout bounds one scrape or health check of a controller, so
	// that a hung server fails the wait instead of stalling it.
	requestTimeout = 10 * time.Second
	// healthPollInterval is how often WaitHealthy asks again.
	healthPollInterval = 50 * time.Millisecond
)

// ControllerBinary returns the path of the operator's binary in BinDir,
// failing unless it is executable. The tests run it as built; they do not
// build it.
func ControllerBinary() (string, error) {
	dir, err := BinDir()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, controllerBinaryName)
	if err := checkExecutable(path, "make build"); err != nil {
		return "", err
	}
	return path, nil
}

// Controller is one run of the operator's binary, with its metrics and
// health servers on free loopback ports.
type Controller struct {
	*Process
	metricsAddr string
	healthAddr  string
}

// StartController starts bin with --metrics-bind-address and
// --health-probe-bind-address on free loopback ports and then args, with its
// output appended to logPath; name identifies it in errors. It returns as
// soon as the process runs, so that tests can also watch a binary that
// fails to start; WaitHealthy waits until it serves.
func StartController(name, bin string, args []string, logPath string) (*Controller, error) {
	ports, err := FreePorts(2)
	if err != nil {
		return nil, err
	}
	c := &Controller{
		metricsAddr: net.JoinHostPort(loopback, strconv.Itoa(ports[0])),
		healthAddr:  net.JoinHostPort(loopback, strconv.Itoa(ports[1])),
	}
	full := append([]string{
		"--metrics-bind-address=" + c.metricsAddr,
		"--health-probe-bind-address=" + c.healthAddr,
	}, args...)
	if c.Process, err = newProcess(name, bin, full, logPath); err != nil {
		return nil, err
	}
	return c, nil
}

// Fetch gets path from the controller's metrics server (which also serves
// pprof with --profiling) and returns the status code and body. ctx bounds
// the whole request.
func (c *Controller) Fetch(ctx context.Context, path string) (int, []byte, error) {
	return httpGet(ctx, "http://"+c.metricsAddr+path)
}

// Scrape reads the controller's /metrics.
func (c *Controller) Scrape(ctx context.Context) (Metrics, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	code, body, err := c.Fetch(ctx, "/metrics")
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", c.Name(), err)
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: HTTP %d: %s", c.Name(), code, body)
	}
	m, err := ParseMetrics(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", c.Name(), err)
	}
	return m, nil
}

// WaitHealthy waits up to timeout until path on the controller's health
// server (/healthz or /readyz) answers 200. It fails at once if the process
// exits.
func (c *Controller) WaitHealthy(ctx context.Context, path string, timeout time.Duration) error {
	url := "http://" + c.healthAddr + path
	return Poll(ctx, timeout, healthPollInterval, c.Name()+" "+path+" answering 200", func() (bool, string, error) {
		if c.proc.exited() {
			return false, "", fmt.Errorf("%s exited: %v (see %s)", c.Name(), c.proc.waitErr, c.proc.logPath)
		}
		ctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		code, body, err := httpGet(ctx, url)
		if err != nil {
			return false, err.Error(), nil
		}
		return code == http.StatusOK, fmt.Sprintf("%d %s", code, bytes.TrimSpace(body)), nil
	})
}

// httpGet fetches url over plain HTTP.
func httpGet(ctx context.Context, url string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, fmt.Errorf("GET %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("GET %s: %w", url, err)
	}
	return resp.StatusCode, body, nil
}
