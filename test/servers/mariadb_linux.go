package servers

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crddemo/crddemo/test/testhost"
)

// MariaDBPort is the port every MariaDB listens on, each at its own
// address.
const MariaDBPort = 3306

const (
	// mysqlProtocol10 is the first byte of a MySQL/MariaDB greeting, the
	// initial handshake packet of protocol version 10.
	mysqlProtocol10 = 0x0a
	// maxGreetingBytes bounds a greeting the harness reads.
	maxGreetingBytes = 1 << 16
)

// MariaDBOptions configures one MariaDB.
type MariaDBOptions struct {
	// MaxConnections is the server's max_connections; 0 keeps the
	// default (151). MariaDB accepts no less than 10, and it lets one
	// connection more than that in for an administrator.
	MaxConnections int
	// MaxConnectErrors, when set, is the server's max_connect_errors:
	// how many connections in a row a host may end during the handshake
	// before it is blocked (1129). The server then resolves its clients'
	// addresses, as MariaDB does by default, since only a server that
	// resolves them keeps the host cache that counts and blocks; it
	// resolves them from a hosts file of its own (see resolveNames).
	// 0 keeps skip-name-resolve, under which no host is ever blocked.
	MaxConnectErrors int
}

// MariaDB is a mariadbd inside a Host's namespace, listening on Addr and on
// a unix socket in its directory, on which root logs in by its uid
// (unix_socket authentication). Host names are not resolved
// (skip-name-resolve) unless MaxConnectErrors is set, so an account's host
// is an address, and no query reaches the machine's resolver either way.
type MariaDB struct {
	// Addr is where probes reach the server.
	Addr netip.AddrPort

	dir      string
	sock     string
	client   string
	proc     *process
	sessions int // how many Hold has started, to name their logs
}

// StartMariaDB creates system tables with mariadb-install-db in a fresh
// directory and starts mariadbd on addr:3306 inside h's namespace, as root,
// and waits until it greets on its unix socket. Only root@localhost and
// MariaDB's own system account exist: a probe, which comes from another
// host, is answered with error 1130 until Exec creates an account for its
// address. The test's cleanup stops the server and removes its directory.
func StartMariaDB(t testing.TB, h *testhost.Host, addr netip.Addr, opts MariaDBOptions) *MariaDB {
	t.Helper()
	var bins [3]string
	for i, name := range []string{"mariadb-install-db", "mariadbd", "mariadb"} {
		p, err := program(name)
		if err != nil {
			t.Fatal(err)
		}
		bins[i] = p
	}
	dir := workDir(t, "mariadb")
	m := &MariaDB{Addr: netip.AddrPortFrom(addr, MariaDBPort), dir: dir, sock: filepath.Join(dir, "mysqld.sock"), client: bins[2]}
	t.Cleanup(func() { cleanupProcess(t, m.proc, syscall.SIGTERM) })
	data := filepath.Join(dir, "data")
	// Each server has a tmpdir of its own: servers started in parallel
	// that shared /tmp removed each other's temporary tables.
	install := exec.CommandContext(t.Context(), bins[0], "--no-defaults", "--datadir="+data, "--tmpdir="+dir, "--user=root",
		"--auth-root-authentication-method=socket", "--skip-test-db")
	install.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("servers: mariadb-install-db: %v\n%s", err, out)
	}
	args := []string{
		// First, or it is not honoured: no option file of the machine's
		// MariaDB applies.
		"--no-defaults",
		"--datadir=" + data,
		"--tmpdir=" + dir,
		"--socket=" + m.sock,
		"--pid-file=" + filepath.Join(dir, "mysqld.pid"),
		"--port=" + strconv.Itoa(MariaDBPort),
		"--bind-address=" + addr.String(),
		"--user=root",
		"--innodb-buffer-pool-size=16M",
		"--skip-log-bin",
	}
	if opts.MaxConnections > 0 {
		args = append(args, "--max-connections="+strconv.Itoa(opts.MaxConnections))
	}
	bin := bins[1]
	if opts.MaxConnectErrors > 0 {
		args = append(args, "--max-connect-errors="+strconv.Itoa(opts.MaxConnectErrors))
		var err error
		if bin, args, err = resolveNames(dir, addr, bin, args); err != nil {
			t.Fatal(err)
		}
	} else {
		args = append(args, "--skip-name-resolve")
	}
	proc, err := startProcess(command{name: "mariadbd " + m.Addr.String(), host: h,
		logPath: filepath.Join(dir, "mariadbd.log"), bin: bin, args: args})
	if err != nil {
		t.Fatal(err)
	}
	m.proc = proc
	err = proc.waitFor(t.Context(), "a greeting on "+m.sock, func(ctx context.Context) (bool, string, error) {
		first, err := m.firstPacket(ctx)
		if err != nil {
			return false, err.Error(), nil
		}
		return first[0] == mysqlProtocol10, fmt.Sprintf("first packet %q", first), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// firstPacket connects to the unix socket and returns the payload of the
// first packet the server sends: a greeting or an error.
func (m *MariaDB) firstPacket(ctx context.Context) ([]byte, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", m.sock)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return nil, err
	}
	// A packet: a 3-byte little-endian length, a sequence number and
	// the payload.
	var hdr [4]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		return nil, err
	}
	n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
	if n == 0 || n > maxGreetingBytes {
		return nil, fmt.Errorf("a first packet of %d bytes", n)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(conn, payload); err != nil {
		return nil, err
	}
	return payload, nil
}

// Exec runs SQL as root over the unix socket with the mariadb client and
// returns what it printed (tab-separated, no column names).
func (m *MariaDB) Exec(ctx context.Context, sql string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, m.client, "--no-defaults", "--socket="+m.sock, "--user=root",
		"--batch", "--skip-column-names", "--execute="+sql)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("mariadb %s: %q: %w: %s", m.Addr, sql, err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// MariaDBSession is one idle session of root, kept open by a mariadb
// client waiting on its standard input.
type MariaDBSession struct {
	proc  *process
	input *os.File
}

// Hold opens a root session with the mariadb client and keeps it open,
// idle, until Close or the end of the test. It returns once the session has
// answered a query, which the client prints to the session's own log: the
// harness opens no connection of its own to find out, so a session can take
// the server's last free slot. A client turned away with 1040 because a
// connection that just ended was not yet released is started again.
func (m *MariaDB) Hold(t testing.TB) *MariaDBSession {
	t.Helper()
	m.sessions++
	logPath := filepath.Join(m.dir, fmt.Sprintf("session-%d.log", m.sessions))
	ctx, cancel := context.WithTimeout(t.Context(), readyTimeout)
	defer cancel()
	for {
		s, err := m.startSession(logPath)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("servers: %v", err)
			}
		})
		err = s.proc.waitFor(ctx, "the session to log in", func(context.Context) (bool, string, error) {
			out, err := os.ReadFile(logPath)
			if err != nil {
				return false, err.Error(), nil
			}
			return bytes.Contains(out, []byte(sessionMarker)), "no answer yet", nil
		})
		if err == nil {
			return s
		}
		out, _ := os.ReadFile(logPath)
		if !s.proc.exited() || !bytes.Contains(out, []byte(sessionTooMany)) || ctx.Err() != nil {
			t.Fatal(err)
		}
	}
}

// The query a held session answers once logged in, and what the client
// prints when the server turns it away.
const (
	sessionMarker  = "crddemo-session-ready"
	sessionTooMany = "ERROR 1040"
)

// startSession starts a mariadb client that logs in as root, answers the
// marker query and then waits on its standard input.
func (m *MariaDB) startSession(logPath string) (*MariaDBSession, error) {
	stdin, input, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("servers: %w", err)
	}
	// The client has its own copy of the read end.
	defer stdin.Close()
	// The pipe keeps the query until the client reads it.
	if _, err := input.WriteString("SELECT '" + sessionMarker + "';\n"); err != nil {
		input.Close()
		return nil, fmt.Errorf("servers: %w", err)
	}
	proc, err := startProcess(command{name: "mariadb session on " + m.Addr.String(), stdin: stdin,
		logPath: logPath, bin: m.client,
		args: []string{"--no-defaults", "--socket=" + m.sock, "--user=root", "--batch", "--unbuffered"}})
	if err != nil {
		input.Close()
		return nil, err
	}
	return &MariaDBSession{proc: proc, input: input}, nil
}

// Close ends the session: the client reads the end of its input, quits
// (COM_QUIT, which frees the server's slot at once) and exits. Closing a
// closed session does nothing.
func (s *MariaDBSession) Close() error {
	_ = s.input.Close()
	select {
	case <-s.proc.done:
	case <-time.After(stopGrace):
	}
	// Only a client that did not exit by itself gets the signal.
	return s.proc.stop(syscall.SIGTERM)
}
