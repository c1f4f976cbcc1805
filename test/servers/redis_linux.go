package servers

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/crddemo/crddemo/test/testhost"
)

// RedisPort is the port every Redis listens on, each at its own address.
const RedisPort = 6379

// loadingEventBytes is how often, in bytes of the dump read, a loading
// Redis answers its clients (with LOADING); Redis accepts no less than
// 1 KiB. The default, 2 MiB, would keep a small dataset silent until it is
// loaded.
const loadingEventBytes = 1024

// RedisOptions configures one run of a redis-server.
type RedisOptions struct {
	// RequirePass makes the server answer every command but AUTH with
	// "-NOAUTH Authentication required.". Do authenticates with it.
	RequirePass string
	// ReplicaOf makes the server a replica of the Redis at that address;
	// Start returns once the replica's link to its master is up.
	ReplicaOf netip.AddrPort
	// KeyLoadDelay slows loading the dump at start by this much per key
	// (Redis's key-load-delay), so that a test can watch a server that is
	// still loading its dataset. Zero loads at full speed.
	KeyLoadDelay time.Duration
	// TLSCert and TLSKey, PEM, make the server speak TLS only on its
	// port (the unix socket stays plain text); clients need no
	// certificate.
	TLSCert, TLSKey []byte
}

// Redis is a redis-server inside a Host's namespace, listening on Addr and
// on a unix socket in its directory, with no persistence but an explicit
// SAVE.
type Redis struct {
	// Addr is where probes reach the server.
	Addr netip.AddrPort

	host     *testhost.Host
	bin      string
	dir      string
	sock     string
	password string
	proc     *process
}

// StartRedis starts a redis-server on addr:6379 inside h's namespace and
// waits until it answers. The test's cleanup stops it and removes its
// directory.
func StartRedis(t testing.TB, h *testhost.Host, addr netip.Addr, opts RedisOptions) *Redis {
	t.Helper()
	bin, err := program("redis-server")
	if err != nil {
		t.Fatal(err)
	}
	dir := workDir(t, "redis")
	r := &Redis{
		Addr: netip.AddrPortFrom(addr, RedisPort),
		host: h,
		bin:  bin,
		dir:  dir,
		sock: filepath.Join(dir, "redis.sock"),
	}
	t.Cleanup(func() { cleanupProcess(t, r.proc, syscall.SIGTERM) })
	if err := r.start(t.Context(), opts); err != nil {
		t.Fatal(err)
	}
	return r
}

// start runs the server with opts in r's directory, keeping the dump a
// SAVE left there, and waits until it answers.
func (r *Redis) start(ctx context.Context, opts RedisOptions) error {
	args := []string{
		"--port", strconv.Itoa(RedisPort),
		"--bind", r.Addr.Addr().String(),
		// Protected mode would refuse the probes' non-loopback
		// connections to a server without a password.
		"--protected-mode", "no",
		"--unixsocket", r.sock,
		"--unixsocketperm", "700",
		"--dir", r.dir,
		"--dbfilename", "dump.rdb",
		// No automatic snapshots and no append-only file: the dump is
		// written when a test says SAVE, and read at every start.
		"--save", "",
		"--appendonly", "no",
		// A master sends its replicas the dataset at once, not after
		// the default five seconds spent waiting for more replicas.
		"--repl-diskless-sync-delay", "0",
		"--daemonize", "no",
		"--logfile", "",
		// DEBUG POPULATE makes a dataset to load; "local" allows DEBUG
		// from the unix socket only.
		"--enable-debug-command", "local",
	}
	if opts.RequirePass != "" {
		args = append(args, "--requirepass", opts.RequirePass)
	}
	if opts.ReplicaOf.IsValid() {
		args = append(args, "--replicaof", opts.ReplicaOf.Addr().String(), strconv.Itoa(int(opts.ReplicaOf.Port())))
	}
	if opts.KeyLoadDelay > 0 {
		args = append(args,
			"--key-load-delay", strconv.FormatInt(opts.KeyLoadDelay.Microseconds(), 10),
			"--loading-process-events-interval-bytes", strconv.Itoa(loadingEventBytes))
	}
	if len(opts.TLSCert) > 0 {
		tlsArgs, err := r.tlsArgs(opts.TLSCert, opts.TLSKey)
		if err != nil {
			return err
		}
		args = append(args, tlsArgs...)
	}
	r.password = opts.RequirePass
	proc, err := startProcess(command{name: "redis-server " + r.Addr.String(), host: r.host,
		logPath: filepath.Join(r.dir, "redis.log"), bin: r.bin, args: args})
	if err != nil {
		return err
	}
	r.proc = proc
	// Any reply means the server is serving, LOADING included.
	err = proc.waitFor(ctx, "an answer to PING", func(ctx context.Context) (bool, string, error) {
		_, err := r.Do(ctx, "PING")
		var re RedisError
		if err == nil || errors.As(err, &re) {
			return true, "", nil
		}
		return false, err.Error(), nil
	})
	if err != nil || !opts.ReplicaOf.IsValid() {
		return err
	}
	return proc.waitFor(ctx, "the link to the master "+opts.ReplicaOf.String(), func(ctx context.Context) (bool, string, error) {
		reply, err := r.Do(ctx, "ROLE")
		if err != nil {
			return false, err.Error(), nil
		}
		// A replica's ROLE: "slave", master host, master port, link
		// state, offset.
		role, ok := reply.([]any)
		if !ok || len(role) < 4 {
			return false, "", fmt.Errorf("unexpected ROLE reply %#v", reply)
		}
		return role[3] == "connected", fmt.Sprintf("ROLE says %v", role), nil
	})
}

// tlsArgs writes the certificate and key into r's directory and returns
// the arguments that move the port to TLS.
func (r *Redis) tlsArgs(cert, key []byte) ([]string, error) {
	certFile, keyFile := filepath.Join(r.dir, "tls.crt"), filepath.Join(r.dir, "tls.key")
	if err := os.WriteFile(certFile, cert, 0o600); err != nil {
		return nil, fmt.Errorf("servers: %w", err)
	}
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		return nil, fmt.Errorf("servers: %w", err)
	}
	return []string{
		"--port", "0",
		"--tls-port", strconv.Itoa(RedisPort),
		"--tls-cert-file", certFile,
		"--tls-key-file", keyFile,
		"--tls-auth-clients", "no",
	}, nil
}

// Do runs one command over the unix socket, after AUTH when the server
// requires a password, and returns its reply (see redisCommand).
func (r *Redis) Do(ctx context.Context, args ...string) (any, error) {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	cmds := [][]string{args}
	if r.password != "" {
		cmds = [][]string{{"AUTH", r.password}, args}
	}
	reply, err := redisCommand(ctx, r.sock, cmds...)
	if err != nil {
		return nil, fmt.Errorf("redis-server %s: %v: %w", r.Addr, args, err)
	}
	return reply, nil
}

// Stop stops the server (SIGTERM, which with no save points writes no
// dump) and waits until it has exited; the probes' connections are then
// refused. The directory and its dump stay for Restart.
func (r *Redis) Stop() error {
	return r.proc.stop(syscall.SIGTERM)
}

// Restart stops the server and starts it again with opts, in the same
// directory (it loads the dump the last SAVE wrote) and on the same
// address, and waits until it answers, which a loading server does with
// LOADING.
func (r *Redis) Restart(ctx context.Context, opts RedisOptions) error {
	if err := r.Stop(); err != nil {
		return err
	}
	return r.start(ctx, opts)
}
