//go:build linux

package protocols

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/crddemo/crddemo/pkg/probe/check"
	"github.com/crddemo/crddemo/test/servers"
)

// Addresses of the Host the MariaDB tests' servers listen on.
const (
	mariadbAddr = 30 + iota
	mariadbHostCacheAddr
)

// mysqlProbe is the MySQL probe; it has no settings.
var mysqlProbe = check.Spec{Kind: check.KindMySQL}

// maxConnections is the MariaDB's max_connections, the least it accepts.
const maxConnections = 10

// TestMariaDB: a MariaDB greets only hosts it has an account for (1130
// otherwise, before any greeting), and turns connections away with 1040
// once its sessions fill max_connections (and the one extra it keeps for
// an administrator).
func TestMariaDB(t *testing.T) {
	t.Parallel()
	db := servers.StartMariaDB(t, host, host.Addr(mariadbAddr), servers.MariaDBOptions{MaxConnections: maxConnections})
	src, err := servers.SourceAddr(db.Addr.Addr())
	if err != nil {
		t.Fatal(err)
	}

	wantFail(t, mysqlProbe, db.Addr, fmt.Sprintf("MySQL 1130: Host '%s' is not allowed to connect to this MariaDB server", src))

	// An account with no privileges at all is enough for the greeting.
	if _, err := db.Exec(t.Context(), fmt.Sprintf("CREATE USER 'crddemo-probe'@'%s'", src)); err != nil {
		t.Fatal(err)
	}
	wantPass(t, mysqlProbe, db.Addr)

	sessions := make([]*servers.MariaDBSession, 0, maxConnections+1)
	for range maxConnections + 1 {
		sessions = append(sessions, db.Hold(t))
	}
	wantFail(t, mysqlProbe, db.Addr, "MySQL 1040: Too many connections")

	// One session ends: the server greets again.
	if err := sessions[0].Close(); err != nil {
		t.Fatal(err)
	}
	await(t, mysqlProbe, db.Addr, "")
}

// maxConnectErrors is the host-cache MariaDB's max_connect_errors: a host
// that ends more than this many connections in a row during the handshake
// is blocked (1129); a probe that only read the greeting was blocked by
// its third or fourth. The default is 100, which a probe every 10 s that
// only read the greeting used up in 17 minutes.
const maxConnectErrors = 2

// hostCacheProbes is how many probes in a row the host-cache test makes:
// five times what blocks a host that ends its connections in the
// handshake.
const hostCacheProbes = 5 * maxConnectErrors

// TestMariaDBHostCache: the probe completes the handshake (a login as
// crddemo-probe without a password, which the server judges), so however
// often it runs it never counts as a handshake error of the controller's
// host. With max_connect_errors=2 on a server that keeps a host cache,
// probes in a row pass, the server counts none of them as aborted before
// authentication, and the one after them is not blocked either: when the
// host has an account that is not the probe's (the server turns every
// login away with 1045, and no connection from the host succeeds to reset
// its count), when the probe's account is locked (4151), and when the
// probe logs in to its account (no password) and quits.
func TestMariaDBHostCache(t *testing.T) {
	t.Parallel()
	db := servers.StartMariaDB(t, host, host.Addr(mariadbHostCacheAddr), servers.MariaDBOptions{MaxConnectErrors: maxConnectErrors})
	src, err := servers.SourceAddr(db.Addr.Addr())
	if err != nil {
		t.Fatal(err)
	}
	const probes = hostCacheProbes + 1
	for _, step := range []struct {
		name string
		sql  string
		// want is how much each counter goes up over the probes.
		want map[string]int
	}{
		{"access denied", "CREATE USER 'app'@'%s' IDENTIFIED BY 'app-password'",
			map[string]int{statusPreauth: 0, statusRefused: probes, statusDenied: probes, statusAbortedClients: 0}},
		{"account locked", "CREATE USER 'crddemo-probe'@'%s' ACCOUNT LOCK",
			map[string]int{statusPreauth: 0, statusRefused: probes, statusDenied: 0, statusAbortedClients: 0}},
		{"logged in", "ALTER USER 'crddemo-probe'@'%s' ACCOUNT UNLOCK",
			map[string]int{statusPreauth: 0, statusRefused: 0, statusDenied: 0, statusAbortedClients: 0}},
	} {
		if _, err := db.Exec(t.Context(), fmt.Sprintf(step.sql, src)); err != nil {
			t.Fatal(err)
		}
		t.Run(step.name, func(t *testing.T) {
			before := serverStatus(t, db)
			for i := range probes {
				if msg := failure(t, mysqlProbe, db.Addr); msg != "" {
					t.Fatalf("probe %d of %d in a row: %q, want a pass", i+1, probes, msg)
				}
			}
			after := serverStatus(t, db)
			for _, name := range statusCounters {
				if got := after[name] - before[name]; got != step.want[name] {
					t.Errorf("%s went up by %d over %d probes, want %d", name, got, probes, step.want[name])
				}
			}
		})
	}
}

// The server's counters (SHOW GLOBAL STATUS) that tell what became of the
// probes' connections.
const (
	// statusPreauth counts connections that ended before authentication:
	// the handshake errors the host cache counts towards
	// max_connect_errors.
	statusPreauth = "Aborted_connects_preauth"
	// statusRefused counts connections that did not start a session:
	// those, and the logins the server turned away.
	statusRefused = "Aborted_connects"
	// statusDenied counts logins turned away for their credentials
	// (1045).
	statusDenied = "Access_denied_errors"
	// statusAbortedClients counts sessions that ended without COM_QUIT.
	statusAbortedClients = "Aborted_clients"
)

// statusCounters lists the counters above.
var statusCounters = []string{statusPreauth, statusRefused, statusDenied, statusAbortedClients}

// serverStatus reads statusCounters through the server's unix socket.
func serverStatus(t *testing.T, db *servers.MariaDB) map[string]int {
	t.Helper()
	out, err := db.Exec(t.Context(), "SHOW GLOBAL STATUS WHERE Variable_name IN ('"+strings.Join(statusCounters, "', '")+"')")
	if err != nil {
		t.Fatal(err)
	}
	status := make(map[string]int)
	for _, line := range strings.Split(out, "\n") {
		name, value, _ := strings.Cut(line, "\t")
		n, err := strconv.Atoi(value)
		if err != nil {
			t.Fatalf("status %q: %v", line, err)
		}
		status[name] = n
	}
	if len(status) != len(statusCounters) {
		t.Fatalf("status %q, want the counters %q", out, statusCounters)
	}
	return status
}
