package check

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/crddemo/crddemo/pkg/probe/internal/probetest"
)

// pgMessage is one backend message: its type, a length that counts
// itself, and body.
func pgMessage(typ byte, body ...[]byte) string {
	b := bytes.Join(body, nil)
	return string(append(binary.BigEndian.AppendUint32([]byte{typ}, uint32(4+len(b))), b...))
}

func pgAuth(code uint32, rest string) string {
	return pgMessage('R', binary.BigEndian.AppendUint32(nil, code), []byte(rest))
}

// pgError is an ErrorResponse with PostgreSQL's fields: severity
// (localized and not), SQLSTATE, message, routine.
func pgError(code, msg string) string {
	fields := "SFATAL\x00VFATAL\x00C" + code + "\x00M" + msg + "\x00Rroutine\x00\x00"
	return pgMessage('E', []byte(fields))
}

// pgSession is what a trust line gives: AuthenticationOk, parameters,
// the key and ReadyForQuery.
var pgSession = pgAuth(0, "") +
	pgMessage('S', []byte("server_version\x0015.8\x00")) +
	pgMessage('K', []byte("\x00\x00\x00\x01\x00\x00\x00\x02")) +
	pgMessage('Z', []byte("I"))

// pgStartup records the startup messages a fake server read, and what
// the client sent after its answer.
type pgStartup struct {
	mu    sync.Mutex
	seen  [][]byte
	after []byte
}

// fakePostgres reads a StartupMessage, records it in rec and answers
// with response, then records what the client sends until it closes.
func fakePostgres(rec *pgStartup, response string) func(net.Conn) {
	return func(c net.Conn) {
		var size [4]byte
		if _, err := io.ReadFull(c, size[:]); err != nil {
			return
		}
		msg := make([]byte, binary.BigEndian.Uint32(size[:])-4)
		if _, err := io.ReadFull(c, msg); err != nil {
			return
		}
		_, _ = c.Write([]byte(response))
		after, _ := io.ReadAll(c)
		rec.mu.Lock()
		defer rec.mu.Unlock()
		rec.seen = append(rec.seen, msg)
		rec.after = after
	}
}

func TestPostgresCheck(t *testing.T) {
	probe := Spec{Kind: KindPostgres, Postgres: &PostgresSpec{User: "crddemo-probe"}}
	var rec pgStartup
	pg := func(response string) func(net.Conn) { return fakePostgres(&rec, response) }
	runProtocolCases(t, []protocolCase{
		{name: "SCRAM requested", handle: pg(pgAuth(10, "SCRAM-SHA-256\x00\x00")), spec: probe},
		{name: "MD5 requested", handle: pg(pgAuth(5, "salt")), spec: probe},
		{name: "trust: ready for query", handle: pg(pgSession), spec: probe},
		{name: "starting up", handle: pg(pgError("57P03", "the database system is starting up")),
			spec: probe, want: "PostgreSQL 57P03: the database system is starting up"},
		{name: "shutting down", handle: pg(pgError("57P03", "the database system is shutting down")),
			spec: probe, want: "PostgreSQL 57P03: the database system is shutting down"},
		{name: "no pg_hba.conf line", handle: pg(pgError("28000", `no pg_hba.conf entry for host "10.250.0.1", user "crddemo-probe", database "crddemo-probe", no encryption`)),
			spec: probe, want: `PostgreSQL 28000: no pg_hba.conf entry for host "10.250.0.1", user "crddemo-probe", database "crddemo-probe", no encryption`},
		{name: "trust, then no such database", handle: pg(pgAuth(0, "") + pgError("3D000", `database "shop" does not exist`)),
			spec: probe, want: `PostgreSQL 3D000: database "shop" does not exist`},
		{name: "an error without a message", handle: pg(pgMessage('E', []byte("SFATAL\x00C53300\x00\x00"))), spec: probe, want: "PostgreSQL 53300"},
		{name: "not PostgreSQL", handle: pg("HTTP/1.1 400 Bad Request\r\n\r\n"), spec: probe, want: msgNotPostgres},
		{name: "a message longer than the bound", handle: pg("R\x7f\xff\xff\xff"), spec: probe, want: msgNotPostgres},
		{name: "no answer", handle: silent, spec: probe, want: msgTimeout, timeout: silentTimeout},
		{name: "half a message", handle: pg(pgAuth(10, "SCRAM")[:6]), spec: probe, want: msgTimeout, timeout: silentTimeout},
		{name: "trust, then silence", handle: pg(pgAuth(0, "")), spec: probe, want: msgTimeout, timeout: silentTimeout},
		{name: "closed at once", handle: closeAtOnce, spec: probe, want: msgClosed},
		{name: "endless notices", handle: pg(pgAuth(0, "") + strings.Repeat(pgMessage('N', []byte("SNOTICE\x00Mhi\x00\x00")), 1000)),
			spec: probe, want: msgNotPostgres},
		// The fields end at a NUL, so a hostile one holds none.
		{name: "hostile message", handle: pg(pgError("57P03", strings.ReplaceAll(hostile, "\x00", "\x01"))),
			spec: probe, want: strings.ReplaceAll(hostileBounded("PostgreSQL 57P03: "), `\x00`, `\x01`)},
		{name: "refused", target: probetest.RefusedAddress(t), spec: probe, want: "connection refused"},
	})
}

// TestPostgresStartupMessage: the probe sends protocol 3.0, the user, the
// database when one is set, and its application name, no password; and it
// ends a session a trust line started with Terminate.
func TestPostgresStartupMessage(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec PostgresSpec
		want string
	}{
		{"user only", PostgresSpec{User: "crddemo-probe"}, "user\x00crddemo-probe\x00application_name\x00crddemo-probe\x00\x00"},
		{"user and database", PostgresSpec{User: "probe", Database: "shop"}, "user\x00probe\x00database\x00shop\x00application_name\x00crddemo-probe\x00\x00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rec pgStartup
			addr := probetest.ServeTCP(t, fakePostgres(&rec, pgSession))
			c, err := New(Spec{Kind: KindPostgres, Postgres: &tc.spec}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if msg := runCheck(t, c, mustAddrPort(t, addr)); msg != "" {
				t.Fatal(msg)
			}
			probetest.Eventually(t, "the server to see the probe close", func() bool {
				rec.mu.Lock()
				defer rec.mu.Unlock()
				return len(rec.seen) == 1
			})
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if want := "\x00\x03\x00\x00" + tc.want; string(rec.seen[0]) != want {
				t.Errorf("startup message %q, want %q", rec.seen[0], want)
			}
			if string(rec.after) != "X\x00\x00\x00\x04" {
				t.Errorf("after ReadyForQuery the probe sent %q, want Terminate", rec.after)
			}
		})
	}
}
