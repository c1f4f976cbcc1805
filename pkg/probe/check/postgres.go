package check

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
)

// PostgresSpec is the startup message of a PostgreSQL probe. No password
// is ever sent: the probe stops at the server's authentication request.
type PostgresSpec struct {
	// User is the user name of the startup message; required (the
	// controller applies the API's default).
	User string
	// Database is the database of the startup message; empty leaves it
	// out, and the server then takes the user name, as libpq does.
	Database string
}

// Message types of the PostgreSQL protocol (version 3.0) that the probe
// reads or sends.
const (
	pgAuthentication = 'R'
	pgErrorResponse  = 'E'
	pgReadyForQuery  = 'Z'
	pgTerminate      = 'X'
	// pgProtocol30 is protocol version 3.0: major 3 in the high 16 bits.
	pgProtocol30 = 3 << 16
	// pgAuthOK is the AuthenticationOk code of an 'R' message; any other
	// code asks for credentials.
	pgAuthOK = 0
)

// pgTerminateMessage ends a session politely.
var pgTerminateMessage = []byte{pgTerminate, 0, 0, 0, 4}

// postgresChecker sends a StartupMessage and reads what the server
// answers. A server that can take connections asks for authentication
// (any method) or, on a trust line, lets the session start: both pass.
// An ErrorResponse fails with its SQLSTATE and message; it is what a
// server that is starting up, shutting down, in recovery without hot
// standby, full, or has no pg_hba.conf line for the prober answers.
type postgresChecker struct {
	dial    DialFunc
	startup []byte
}

func newPostgresChecker(spec *PostgresSpec, dial DialFunc) (Checker, error) {
	if spec == nil || spec.User == "" {
		return nil, errors.New("postgres.user is required")
	}
	params := []string{"user", spec.User}
	if spec.Database != "" {
		params = append(params, "database", spec.Database)
	}
	// Shown in pg_stat_activity and the server's log (%a), so that its
	// operators can tell probes from users.
	params = append(params, "application_name", "crddemo-probe")
	body := binary.BigEndian.AppendUint32(nil, pgProtocol30)
	for _, p := range params {
		if bytes.IndexByte([]byte(p), 0) >= 0 {
			return nil, errors.New("postgres: a user or database name cannot hold a NUL byte")
		}
		body = append(append(body, p...), 0)
	}
	body = append(body, 0)
	startup := binary.BigEndian.AppendUint32(nil, uint32(4+len(body)))
	return &postgresChecker{dial: dial, startup: append(startup, body...)}, nil
}

func (c *postgresChecker) Check(ctx context.Context, addr netip.AddrPort) error {
	conn, err := openConn(ctx, c.dial, "tcp", addr, nil)
	if err != nil {
		return failure(ctx, err)
	}
	defer func() { _ = conn.Close() }()
	if _, err := conn.Write(c.startup); err != nil {
		return failure(ctx, err)
	}
	r := bufio.NewReaderSize(&boundedReader{r: conn, left: maxReadBytes}, 512)
	authenticated := false
	for first := true; ; first = false {
		typ, body, err := readPostgresMessage(ctx, r, first)
		if err != nil {
			return err
		}
		switch typ {
		case pgErrorResponse:
			return &Error{Message: postgresError(body)}
		case pgAuthentication:
			if len(body) < 4 {
				return &Error{Message: msgNotPostgres}
			}
			if binary.BigEndian.Uint32(body) != pgAuthOK {
				// A request for credentials: the server accepts
				// connections, and the probe has none to give.
				return nil
			}
			// A trust line: the session starts, and may still fail
			// (no such database, too many clients) before it is ready.
			authenticated = true
		case pgReadyForQuery:
			if authenticated {
				// Best effort: the connection closes either way.
				_, _ = conn.Write(pgTerminateMessage)
			}
			return nil
		}
		// ParameterStatus, BackendKeyData, NoticeResponse and the like
		// come before ReadyForQuery and say nothing about readiness.
	}
}

// readPostgresMessage reads one backend message: a type byte and a
// length that counts itself. The first message must be an authentication
// request or an error, else the server does not speak the protocol.
func readPostgresMessage(ctx context.Context, r *bufio.Reader, first bool) (byte, []byte, error) {
	var head [5]byte
	if n, err := io.ReadFull(r, head[:]); err != nil {
		return 0, nil, readFailure(ctx, err, n, msgNotPostgres)
	}
	typ := head[0]
	size := binary.BigEndian.Uint32(head[1:])
	if size < 4 || size-4 > maxReadBytes || (first && typ != pgAuthentication && typ != pgErrorResponse) {
		return 0, nil, &Error{Message: msgNotPostgres}
	}
	body := make([]byte, size-4)
	if n, err := io.ReadFull(r, body); err != nil {
		return 0, nil, readFailure(ctx, err, len(head)+n, msgNotPostgres)
	}
	return typ, body, nil
}

// postgresError is the message of an ErrorResponse: "PostgreSQL", the
// SQLSTATE (field 'C') and the server's message (field 'M'), such as
// "PostgreSQL 57P03: the database system is starting up".
func postgresError(body []byte) string {
	var code, text string
	for len(body) > 0 && body[0] != 0 {
		field := body[0]
		end := bytes.IndexByte(body[1:], 0)
		if end < 0 {
			break
		}
		value := string(body[1 : 1+end])
		body = body[2+end:]
		switch field {
		case 'C':
			code = value
		case 'M':
			text = value
		}
	}
	msg := "PostgreSQL"
	if code != "" {
		msg += " " + Bound(code, maxExcerptBytes)
	}
	if text != "" {
		msg += ": " + text
	}
	return Bound(msg, MaxMessageBytes)
}
