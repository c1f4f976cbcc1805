//go:build linux

package protocols

import (
	"fmt"
	"testing"

	"github.com/crddemo/crddemo/pkg/probe/check"
	"github.com/crddemo/crddemo/test/servers"
)

// Addresses of the Host the PostgreSQL tests' servers listen on.
const (
	postgresReadyAddr = 20 + iota
	postgresStandbyAddr
	postgresShutdownAddr
)

// postgresAs is a PostgreSQL probe with user (and, as libpq does, the
// database of the same name).
func postgresAs(user string) check.Spec {
	return check.Spec{Kind: check.KindPostgres, Postgres: &check.PostgresSpec{User: user}}
}

// probeUser is the API's default user of a PostgreSQL probe.
const probeUser = "crddemo-probe"

func TestPostgres(t *testing.T) {
	t.Parallel()
	cluster := servers.NewPostgresCluster(t)
	src, err := servers.SourceAddr(host.Addr(postgresReadyAddr))
	if err != nil {
		t.Fatal(err)
	}

	// Ready: a pg_hba.conf line for the probe's address, with any method,
	// gets an authentication request, which is where the probe stops.
	t.Run("ready", func(t *testing.T) {
		t.Parallel()
		pg := cluster.StartPostgres(t, host, host.Addr(postgresReadyAddr), servers.PostgresOptions{HBA: []string{
			fmt.Sprintf("host all %s %s/32 scram-sha-256", probeUser, src),
			fmt.Sprintf("host all %s %s/32 trust", servers.PostgresSuperuser, src),
			fmt.Sprintf("host all ghost %s/32 trust", src),
		}})
		wantPass(t, postgresAs(probeUser), pg.Addr)
		// A trust line lets the session start; the probe passes at
		// ReadyForQuery and ends the session politely.
		wantPass(t, postgresAs(servers.PostgresSuperuser), pg.Addr)
		// ... and fails when the session cannot start.
		wantFail(t, postgresAs("ghost"), pg.Addr, `PostgreSQL 28000: role "ghost" does not exist`)
		// No line for this user from the probe's address.
		wantFail(t, postgresAs("intruder"), pg.Addr, fmt.Sprintf(
			`PostgreSQL 28000: no pg_hba.conf entry for host "%s", user "intruder", database "intruder", no encryption`, src))
	})

	// A standby with hot_standby off and nothing to follow stays in
	// recovery and turns every connection away.
	t.Run("not accepting connections", func(t *testing.T) {
		t.Parallel()
		pg := cluster.StartPostgres(t, host, host.Addr(postgresStandbyAddr), servers.PostgresOptions{Standby: true,
			HBA: []string{fmt.Sprintf("host all all %s/32 scram-sha-256", src)}})
		wantFail(t, postgresAs(probeUser), pg.Addr, "PostgreSQL 57P03: the database system is not accepting connections")
	})

	// No pg_hba.conf line for the probe's address; then a smart shutdown
	// that a session holds open; then stopped.
	t.Run("no line, shutting down, stopped", func(t *testing.T) {
		t.Parallel()
		pg := cluster.StartPostgres(t, host, host.Addr(postgresShutdownAddr), servers.PostgresOptions{})
		wantFail(t, postgresAs(probeUser), pg.Addr, fmt.Sprintf(
			`PostgreSQL 28000: no pg_hba.conf entry for host "%s", user "%s", database "%s", no encryption`, src, probeUser, probeUser))

		session := pg.Hold(t)
		if err := pg.SmartShutdown(t.Context()); err != nil {
			t.Fatal(err)
		}
		wantFail(t, postgresAs(probeUser), pg.Addr, "PostgreSQL 57P03: the database system is shutting down")

		// The last session ends, and the server with it.
		session.Close()
		if err := pg.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
		wantFail(t, postgresAs(probeUser), pg.Addr, "connection refused")
	})
}
