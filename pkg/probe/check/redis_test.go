package check

import (
	"bufio"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crddemo/crddemo/pkg/probe/internal/probetest"
)

// fakeRedis answers each RESP command it reads (an array of bulk
// strings, as the probe and redis-cli send) with the reply its name has
// in replies, raw; a command without one gets an error, as Redis answers
// an unknown command.
func fakeRedis(replies map[string]string) func(net.Conn) {
	return func(c net.Conn) {
		r := bufio.NewReader(c)
		for {
			cmd, ok := readRESPCommand(r)
			if !ok {
				return
			}
			reply, known := replies[cmd]
			if !known {
				reply = "-ERR unknown command '" + cmd + "'\r\n"
			}
			if _, err := c.Write([]byte(reply)); err != nil {
				return
			}
		}
	}
}

// readRESPCommand reads one command and returns its name, upper case.
func readRESPCommand(r *bufio.Reader) (string, bool) {
	line, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "*") {
		return "", false
	}
	n, err := strconv.Atoi(strings.TrimSpace(line[1:]))
	if err != nil {
		return "", false
	}
	var args []string
	for range n {
		size, err := r.ReadString('\n')
		if err != nil || !strings.HasPrefix(size, "$") {
			return "", false
		}
		arg, err := r.ReadString('\n')
		if err != nil {
			return "", false
		}
		args = append(args, strings.TrimSpace(arg))
	}
	if len(args) == 0 {
		return "", false
	}
	return strings.ToUpper(args[0]), true
}

// Answers of a Redis server, as Redis 7 words them.
const (
	pong        = "+PONG\r\n"
	roleMaster  = "*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n"
	roleReplica = "*5\r\n$5\r\nslave\r\n$9\r\n10.0.0.1\r\n:6379\r\n$9\r\nconnected\r\n:42\r\n"
)

func TestRedisCheck(t *testing.T) {
	redis := func(role string) Spec { return Spec{Kind: KindRedis, Redis: &RedisSpec{Role: role}} }
	runProtocolCases(t, []protocolCase{
		{name: "PONG", handle: fakeRedis(map[string]string{"PING": pong}), spec: Spec{Kind: KindRedis}},
		{name: "PONG, any role", handle: fakeRedis(map[string]string{"PING": pong}), spec: redis("")},
		{name: "loading", handle: fakeRedis(map[string]string{"PING": "-LOADING Redis is loading the dataset in memory\r\n"}),
			spec: redis(""), want: "Redis: LOADING Redis is loading the dataset in memory"},
		{name: "password required", handle: fakeRedis(map[string]string{"PING": "-NOAUTH Authentication required.\r\n"}),
			spec: redis(""), want: "Redis: NOAUTH Authentication required."},
		{name: "another answer", handle: fakeRedis(map[string]string{"PING": "+OK\r\n"}),
			spec: redis(""), want: `expected "+PONG", got "+OK"`},
		{name: "master wanted and found", handle: fakeRedis(map[string]string{"PING": pong, "ROLE": roleMaster}), spec: redis(RedisRoleMaster)},
		{name: "master wanted, replica found", handle: fakeRedis(map[string]string{"PING": pong, "ROLE": roleReplica}),
			spec: redis(RedisRoleMaster), want: "Redis: role is replica, want master"},
		{name: "replica wanted and found", handle: fakeRedis(map[string]string{"PING": pong, "ROLE": roleReplica}), spec: redis(RedisRoleReplica)},
		{name: "replica wanted, master found", handle: fakeRedis(map[string]string{"PING": pong, "ROLE": roleMaster}),
			spec: redis(RedisRoleReplica), want: "Redis: role is master, want replica"},
		{name: "sentinel", handle: fakeRedis(map[string]string{"PING": pong, "ROLE": "*2\r\n$8\r\nsentinel\r\n*0\r\n"}),
			spec: redis(RedisRoleMaster), want: "Redis: role is sentinel, want master"},
		{name: "ROLE refused", handle: fakeRedis(map[string]string{"PING": pong, "ROLE": "-NOPERM User probe has no permissions to run the 'role' command\r\n"}),
			spec: redis(RedisRoleMaster), want: "Redis: NOPERM User probe has no permissions to run the 'role' command"},
		{name: "ROLE unknown", handle: fakeRedis(map[string]string{"PING": pong}),
			spec: redis(RedisRoleMaster), want: "Redis: ERR unknown command 'ROLE'"},
		{name: "ROLE not an array", handle: fakeRedis(map[string]string{"PING": pong, "ROLE": "+master\r\n"}),
			spec: redis(RedisRoleMaster), want: msgNotRedis + " to ROLE"},
		{name: "ROLE name of another length", handle: fakeRedis(map[string]string{"PING": pong, "ROLE": "*1\r\n$3\r\nmaster\r\n"}),
			spec: redis(RedisRoleMaster), want: msgNotRedis + " to ROLE"},
		{name: "no answer", handle: silent, spec: redis(""), want: msgTimeout, timeout: silentTimeout},
		{name: "no answer to ROLE", handle: fakeRedis(map[string]string{"PING": pong, "ROLE": ""}),
			spec: redis(RedisRoleMaster), want: msgTimeout, timeout: silentTimeout},
		{name: "half a line", handle: answer(len(redisPing), "+PON"), spec: redis(""), want: msgTimeout, timeout: silentTimeout},
		{name: "closed at once", handle: closeAtOnce, spec: redis(""), want: msgClosed},
		{name: "closed mid-line", handle: func(c net.Conn) {
			_, _ = c.Read(make([]byte, len(redisPing)))
			_, _ = c.Write([]byte("+PON"))
		}, spec: redis(""), want: msgNotRedis},
		{name: "endless line", handle: endless("x"), spec: redis(""), want: msgNotRedis},
		{name: "endless lines", handle: endless("+PONG\r\n"), spec: redis(RedisRoleMaster), want: msgNotRedis + " to ROLE"},
		{name: "hostile error", handle: fakeRedis(map[string]string{"PING": "-" + hostile + "\r\n"}),
			spec: redis(""), want: hostileBounded("Redis: ")},
		{name: "hostile role", handle: fakeRedis(map[string]string{"PING": pong, "ROLE": "*1\r\n$10\r\n\xff\x00AAAAAAAA\r\n"}),
			spec: redis(RedisRoleMaster), want: `Redis: role is \xff\x00AAAAAAAA, want master`},
		{name: "refused", target: probetest.RefusedAddress(t), spec: redis(""), want: "connection refused"},
	})
}

// TestRedisTLS: a TLS-wrapped Redis answers PING inside TLS.
func TestRedisTLS(t *testing.T) {
	ca := newTestCA(t)
	cert := ca.issue(t, "redis.probe.test", time.Now().Add(time.Hour))
	srv := tlsTCPServer(t, cert, fakeRedis(map[string]string{"PING": pong, "ROLE": roleReplica}))
	// Redis answers what is not RESP with an error line.
	plain := probetest.ServeTCP(t, answer(0, "-ERR Protocol error: invalid multibulk length\r\n"))
	trusted := &TLSSpec{ServerName: "redis.probe.test", CABundle: ca.pem}
	runProtocolCases(t, []protocolCase{
		{name: "PONG inside TLS", target: srv, spec: Spec{Kind: KindRedis, TLS: trusted}},
		{name: "role inside TLS", target: srv, spec: Spec{Kind: KindRedis, Redis: &RedisSpec{Role: RedisRoleMaster}, TLS: trusted},
			want: "Redis: role is replica, want master"},
		{name: "plain text Redis", target: plain, spec: Spec{Kind: KindRedis, TLS: trusted}, want: msgNotTLS},
	})
}
