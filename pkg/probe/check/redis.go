package check

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net/netip"
	"strconv"
)

// RedisSpec is what a Redis probe wants besides PONG.
type RedisSpec struct {
	// Role is RedisRoleMaster or RedisRoleReplica, checked with ROLE;
	// empty means any role.
	Role string
}

// The roles a Redis probe can want.
const (
	RedisRoleMaster  = "master"
	RedisRoleReplica = "replica"
)

// The commands of a Redis probe, as RESP arrays of bulk strings (what
// redis-cli sends), and the one answer PING passes with.
var (
	redisPing = []byte("*1\r\n$4\r\nPING\r\n")
	redisRole = []byte("*1\r\n$4\r\nROLE\r\n")
	redisPong = []byte("+PONG")
)

// redisChecker sends PING, which must answer +PONG, and then, when a role
// is wanted, ROLE, whose first element must name it. It sends no AUTH: a
// server that requires a password fails with its NOAUTH error.
type redisChecker struct {
	dial DialFunc
	tls  *tls.Config // nil: plain text
	role string
}

func newRedisChecker(spec *RedisSpec, tlsSpec *TLSSpec, dial DialFunc) (Checker, error) {
	c := &redisChecker{dial: dial}
	if spec != nil {
		c.role = spec.Role
	}
	switch c.role {
	case "", RedisRoleMaster, RedisRoleReplica:
	default:
		return nil, fmt.Errorf("redis.role %q: want %q or %q", c.role, RedisRoleMaster, RedisRoleReplica)
	}
	var err error
	if c.tls, err = tlsSpec.streamConfig(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *redisChecker) Check(ctx context.Context, addr netip.AddrPort) error {
	conn, err := openConn(ctx, c.dial, "tcp", addr, c.tls)
	if err != nil {
		return failure(ctx, err)
	}
	defer func() { _ = conn.Close() }()
	// One bound for every answer of the probe together.
	r := bufio.NewReaderSize(&boundedReader{r: conn, left: maxReadBytes}, maxReadBytes)

	if _, err := conn.Write(redisPing); err != nil {
		return failure(ctx, err)
	}
	line, err := readRedisLine(ctx, r)
	if err != nil {
		return err
	}
	if !bytes.Equal(line, redisPong) {
		return &Error{Message: expectedGot(redisPong, line)}
	}
	if c.role == "" {
		return nil
	}

	if _, err := conn.Write(redisRole); err != nil {
		return failure(ctx, err)
	}
	role, err := readRoleName(ctx, r)
	if err != nil {
		return err
	}
	if role == "slave" {
		// The name ROLE gives a replica, from before Redis renamed it.
		role = RedisRoleReplica
	}
	if role != c.role {
		return &Error{Message: "Redis: role is " + Bound(role, maxExcerptBytes) + ", want " + c.role}
	}
	return nil
}

// readRedisLine reads one line of a RESP answer, without its CRLF. An
// error reply fails the probe with the server's words ("Redis: LOADING
// Redis is loading the dataset in memory"); so does a line that does not
// end within the bound, or a connection that closes before it ends.
func readRedisLine(ctx context.Context, r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return nil, readFailure(ctx, err, len(line), msgNotRedis)
	}
	line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	if len(line) > 0 && line[0] == '-' {
		return nil, &Error{Message: Bound("Redis: "+string(line[1:]), MaxMessageBytes)}
	}
	return line, nil
}

// readRoleName reads ROLE's answer up to its first element, the role
// name: an array whose first element is a bulk string ("*3", "$6",
// "master"). The rest of the answer is left unread.
func readRoleName(ctx context.Context, r *bufio.Reader) (string, error) {
	notRedis := &Error{Message: msgNotRedis + " to ROLE"}
	head, err := readRedisLine(ctx, r)
	if err != nil {
		return "", err
	}
	if n, ok := redisLength(head, '*'); !ok || n < 1 {
		return "", notRedis
	}
	size, err := readRedisLine(ctx, r)
	if err != nil {
		return "", err
	}
	n, ok := redisLength(size, '$')
	if !ok {
		return "", notRedis
	}
	name, err := readRedisLine(ctx, r)
	if err != nil {
		return "", err
	}
	if len(name) != n {
		return "", notRedis
	}
	return string(name), nil
}

// redisLength is the length in a RESP line such as "*3" or "$6", whose
// first byte must be kind.
func redisLength(line []byte, kind byte) (int, bool) {
	if len(line) < 2 || line[0] != kind {
		return 0, false
	}
	n, err := strconv.Atoi(string(line[1:]))
	return n, err == nil && n >= 0
}
