package servers

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/crddemo/crddemo/test/testhost"
)

// PostgresPort is the port every PostgreSQL listens on, each at its own
// address.
const PostgresPort = 5432

// PostgresSuperuser is the superuser initdb creates. The harness connects
// as it over the unix socket, which pg_hba.conf trusts.
const PostgresSuperuser = "postgres"

// The status words PostgreSQL writes on the last line of postmaster.pid,
// which pg_ctl's -w waits for too.
const (
	pmStatusReady    = "ready"
	pmStatusStandby  = "standby"
	pmStatusStopping = "stopping"
	// pmStatusLine is the line of postmaster.pid (from 1) that holds the
	// status.
	pmStatusLine = 8
)

// PostgresCluster is a data directory made once by initdb, which every
// PostgreSQL of a test starts from a copy of: initdb takes seconds, a copy
// a fraction of one.
type PostgresCluster struct {
	dir      string
	postgres string
	cred     *syscall.Credential
}

// NewPostgresCluster runs initdb as the postgres user (PostgreSQL refuses
// to run as root) into a directory removed when the test ends.
func NewPostgresCluster(t testing.TB) *PostgresCluster {
	t.Helper()
	initdb, err := postgresProgram("initdb")
	if err != nil {
		t.Fatal(err)
	}
	postgres, err := postgresProgram("postgres")
	if err != nil {
		t.Fatal(err)
	}
	cred, err := postgresUser()
	if err != nil {
		t.Fatal(err)
	}
	c := &PostgresCluster{dir: workDir(t, "pgtemplate"), postgres: postgres, cred: cred}
	if err := os.Chown(c.dir, int(cred.Uid), int(cred.Gid)); err != nil {
		t.Fatalf("servers: %v", err)
	}
	cmd := exec.CommandContext(t.Context(), initdb,
		"--pgdata", filepath.Join(c.dir, "data"),
		"--username", PostgresSuperuser,
		// Trust is what the harness's unix socket needs; each server's
		// pg_hba.conf replaces the file anyway.
		"--auth", "trust",
		"--encoding", "UTF8", "--locale", "C",
		// A test's data need not survive a crash of the machine.
		"--no-sync", "--no-instructions")
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("servers: initdb: %v\n%s", err, out)
	}
	return c
}

// postgresUser returns the credentials of the postgres user the package
// creates.
func postgresUser() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("servers: the postgres user (created by the postgresql package): %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("servers: uid of postgres: %w", err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("servers: gid of postgres: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// PostgresOptions configures one PostgreSQL.
type PostgresOptions struct {
	// HBA are pg_hba.conf lines for TCP clients, after the line that
	// trusts the harness on the unix socket. With none, every probe is
	// answered with 28000 "no pg_hba.conf entry".
	HBA []string
	// Standby starts the server as a standby (standby.signal) with
	// hot_standby off and no primary to follow: it stays in recovery,
	// answering every connection with 57P03.
	Standby bool
}

// Postgres is a PostgreSQL server inside a Host's namespace, listening on
// Addr and on a unix socket in its directory.
type Postgres struct {
	// Addr is where probes reach the server.
	Addr netip.AddrPort

	dir  string
	data string
	proc *process
}

// StartPostgres starts a PostgreSQL on addr:5432 inside h's namespace from
// a copy of c's data directory, and waits until it has started up (as a
// standby, with Standby). The test's cleanup stops it (fast shutdown, which
// ends every session) and removes its directory.
func (c *PostgresCluster) StartPostgres(t testing.TB, h *testhost.Host, addr netip.Addr, opts PostgresOptions) *Postgres {
	t.Helper()
	dir := workDir(t, "postgres")
	p := &Postgres{Addr: netip.AddrPortFrom(addr, PostgresPort), dir: dir, data: filepath.Join(dir, "data")}
	t.Cleanup(func() { cleanupProcess(t, p.proc, syscall.SIGINT) })
	if err := c.prepare(t.Context(), p, opts); err != nil {
		t.Fatal(err)
	}
	args := []string{
		"-D", p.data,
		"-p", strconv.Itoa(PostgresPort),
		"-c", "listen_addresses=" + addr.String(),
		"-c", "unix_socket_directories=" + dir,
		// Dynamic shared memory in files under the data directory, so
		// that a killed server leaves nothing in /dev/shm.
		"-c", "dynamic_shared_memory_type=mmap",
		"-c", "shared_buffers=16MB",
		"-c", "max_connections=20",
		"-c", "fsync=off",
		"-c", "log_connections=on",
	}
	if opts.Standby {
		args = append(args, "-c", "hot_standby=off")
	}
	proc, err := startProcess(command{name: "postgres " + p.Addr.String(), host: h, cred: c.cred,
		logPath: filepath.Join(dir, "postgres.log"), bin: c.postgres, args: args})
	if err != nil {
		t.Fatal(err)
	}
	p.proc = proc
	want := pmStatusReady
	if opts.Standby {
		want = pmStatusStandby
	}
	if err := p.waitStatus(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	return p
}

// prepare copies the cluster's data directory for p and writes p's
// pg_hba.conf (and standby.signal).
func (c *PostgresCluster) prepare(ctx context.Context, p *Postgres, opts PostgresOptions) error {
	if err := os.Chown(p.dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
		return fmt.Errorf("servers: %w", err)
	}
	// cp -a keeps the owner and the 0700 mode PostgreSQL insists on.
	if out, err := exec.CommandContext(ctx, "cp", "-a", filepath.Join(c.dir, "data"), p.data).CombinedOutput(); err != nil {
		return fmt.Errorf("servers: copying the PostgreSQL data directory: %w: %s", err, out)
	}
	hba := "# Written by test/servers.\nlocal all all trust\n" + strings.Join(opts.HBA, "\n") + "\n"
	files := map[string]string{"pg_hba.conf": hba}
	if opts.Standby {
		files["standby.signal"] = ""
	}
	for name, content := range files {
		path := filepath.Join(p.data, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			return fmt.Errorf("servers: %w", err)
		}
		if err := os.Chown(path, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			return fmt.Errorf("servers: %w", err)
		}
	}
	return nil
}

// waitStatus waits until postmaster.pid shows the status want.
func (p *Postgres) waitStatus(ctx context.Context, want string) error {
	return p.proc.waitFor(ctx, "status "+want+" in postmaster.pid", func(context.Context) (bool, string, error) {
		got, err := p.status()
		if err != nil {
			return false, err.Error(), nil
		}
		return got == want, "status " + strconv.Quote(got), nil
	})
}

// status is the postmaster's status word in postmaster.pid.
func (p *Postgres) status() (string, error) {
	b, err := os.ReadFile(filepath.Join(p.data, "postmaster.pid"))
	if err != nil {
		return "", err
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < pmStatusLine {
		return "", errors.New("postmaster.pid has no status yet")
	}
	return strings.TrimSpace(lines[pmStatusLine-1]), nil
}

// SmartShutdown asks the server for a smart shutdown (SIGTERM): sessions
// already open go on, new connections are refused with 57P03 "the database
// system is shutting down", and the server exits when the last session
// ends. It returns once the server says it is stopping, or once it has
// exited if no session held it.
func (p *Postgres) SmartShutdown(ctx context.Context) error {
	if err := p.proc.signal(syscall.SIGTERM); err != nil {
		return err
	}
	err := p.proc.waitFor(ctx, "the smart shutdown", func(context.Context) (bool, string, error) {
		got, err := p.status()
		if err != nil {
			return false, err.Error(), nil
		}
		return got == pmStatusStopping, "status " + strconv.Quote(got), nil
	})
	if err != nil && p.proc.exited() {
		// Gone already: no session held it open.
		return nil
	}
	return err
}

// Stop shuts the server down fast (SIGINT: sessions are ended) and waits
// until it has exited; the probes' connections are then refused.
func (p *Postgres) Stop() error {
	return p.proc.stop(syscall.SIGINT)
}

// Wait waits until the server has exited by itself, as it does when the
// last session of a smart shutdown ends.
func (p *Postgres) Wait(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	select {
	case <-p.proc.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: waiting for it to exit: %w%s", p.proc.name, ctx.Err(), p.proc.tail())
	}
}

// socket is the path of the server's unix socket.
func (p *Postgres) socket() string {
	return filepath.Join(p.dir, ".s.PGSQL."+strconv.Itoa(PostgresPort))
}
