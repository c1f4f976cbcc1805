package servers

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// protocolVersion3 is PostgreSQL's frontend/backend protocol 3.0 in a
// StartupMessage.
const protocolVersion3 = 3 << 16

// PostgresSession is an open session of the superuser on the unix socket,
// idle but logged in: it keeps a smart shutdown waiting.
type PostgresSession struct {
	conn net.Conn
}

// Hold logs in as the superuser over the unix socket (trusted, so no
// password) and keeps the session open until Close or the end of the test.
// It returns once the server has said ReadyForQuery, so the session counts.
func (p *Postgres) Hold(t testing.TB) *PostgresSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), readyTimeout)
	defer cancel()
	s, err := openPostgresSession(ctx, p.socket())
	if err != nil {
		t.Fatalf("servers: postgres %s: %v", p.Addr, err)
	}
	t.Cleanup(s.Close)
	return s
}

// openPostgresSession runs the startup exchange on the socket at path
// until ReadyForQuery.
func openPostgresSession(ctx context.Context, path string) (*PostgresSession, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			conn.Close()
		}
	}()
	if dl, has := ctx.Deadline(); has {
		if err := conn.SetDeadline(dl); err != nil {
			return nil, err
		}
	}
	params := "user\x00" + PostgresSuperuser + "\x00database\x00" + PostgresSuperuser + "\x00\x00"
	msg := binary.BigEndian.AppendUint32(nil, uint32(8+len(params)))
	msg = binary.BigEndian.AppendUint32(msg, protocolVersion3)
	msg = append(msg, params...)
	if _, err := conn.Write(msg); err != nil {
		return nil, err
	}
	r := bufio.NewReader(conn)
	for {
		var hdr [5]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return nil, fmt.Errorf("logging in: %w", err)
		}
		n := int(binary.BigEndian.Uint32(hdr[1:])) - 4
		if n < 0 || n > 1<<20 {
			return nil, fmt.Errorf("logging in: a message of %d bytes", n)
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, fmt.Errorf("logging in: %w", err)
		}
		switch hdr[0] {
		case 'Z':
			// Idle from now on: no deadline.
			if err := conn.SetDeadline(time.Time{}); err != nil {
				return nil, err
			}
			ok = true
			return &PostgresSession{conn: conn}, nil
		case 'E':
			// Fields: a type byte and a NUL-terminated value each.
			return nil, fmt.Errorf("logging in: %s", strings.ReplaceAll(strings.TrimRight(string(body), "\x00"), "\x00", " "))
		}
	}
}

// Close ends the session politely (Terminate) and closes the connection.
// Closing a closed session does nothing.
func (s *PostgresSession) Close() {
	// Terminate: 'X' and the length of the length.
	_, _ = s.conn.Write([]byte{'X', 0, 0, 0, 4})
	_ = s.conn.Close()
}
