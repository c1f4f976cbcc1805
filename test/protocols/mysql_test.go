//go:build linux

package protocols

import (
	"fmt"
	"testing"

	"github.com/crddemo/crddemo/pkg/probe/check"
	"github.com/crddemo/crddemo/test/servers"
)

// mariadbAddr is the address of the Host the MariaDB test's server
// listens on.
const mariadbAddr = 30

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
