//go:build linux

package protocols

import (
	"strconv"
	"testing"
	"time"

	"github.com/crddemo/crddemo/pkg/probe/check"
	"github.com/crddemo/crddemo/test/servers"
)

// Addresses of the Host the Redis tests' servers listen on.
const (
	redisMasterAddr = 10 + iota
	redisReplicaAddr
	redisAuthAddr
	redisLoadingAddr
)

// The probes of these tests.
var (
	redisAny     = check.Spec{Kind: check.KindRedis}
	redisMaster  = check.Spec{Kind: check.KindRedis, Redis: &check.RedisSpec{Role: check.RedisRoleMaster}}
	redisReplica = check.Spec{Kind: check.KindRedis, Redis: &check.RedisSpec{Role: check.RedisRoleReplica}}
	// tcpPing is a TCP probe that speaks Redis's inline protocol.
	tcpPing = check.Spec{Kind: check.KindTCP, TCP: &check.TCPSpec{Send: []byte("PING\r\n"), Expect: []byte("+PONG")}}
)

// TestRedisRoles: a master and its replica answer PONG, and ROLE tells
// them apart; a stopped server is refused.
func TestRedisRoles(t *testing.T) {
	t.Parallel()
	master := servers.StartRedis(t, host, host.Addr(redisMasterAddr), servers.RedisOptions{})
	replica := servers.StartRedis(t, host, host.Addr(redisReplicaAddr), servers.RedisOptions{ReplicaOf: master.Addr})

	wantPass(t, redisAny, master.Addr)
	wantPass(t, redisMaster, master.Addr)
	wantFail(t, redisReplica, master.Addr, "Redis: role is master, want replica")

	wantPass(t, redisAny, replica.Addr)
	wantPass(t, redisReplica, replica.Addr)
	wantFail(t, redisMaster, replica.Addr, "Redis: role is replica, want master")

	// The same server through a TCP probe's send/expect.
	wantPass(t, tcpPing, master.Addr)

	if err := replica.Stop(); err != nil {
		t.Fatal(err)
	}
	wantFail(t, redisAny, replica.Addr, "connection refused")
}

// TestRedisRequiresAuth: the probe sends no password, so a server with
// requirepass fails it with its NOAUTH error, through the Redis probe and
// through a TCP probe expecting +PONG alike.
func TestRedisRequiresAuth(t *testing.T) {
	t.Parallel()
	r := servers.StartRedis(t, host, host.Addr(redisAuthAddr), servers.RedisOptions{RequirePass: "secret"})
	wantFail(t, redisAny, r.Addr, "Redis: NOAUTH Authentication required.")
	wantFail(t, tcpPing, r.Addr, `expected "+PONG", got "-NOAUTH Authentication required."`)
}

// TestRedisLoading: a server restarted with a dataset to load answers
// LOADING until it has loaded it, and PONG from then on.
func TestRedisLoading(t *testing.T) {
	t.Parallel()
	// 20,000 keys at 100 µs each keep the server loading for two seconds
	// at least: room for the probe after the restart's first answer.
	const keys = 20000
	r := servers.StartRedis(t, host, host.Addr(redisLoadingAddr), servers.RedisOptions{})
	for _, cmd := range [][]string{{"DEBUG", "POPULATE", strconv.Itoa(keys)}, {"SAVE"}} {
		if _, err := r.Do(t.Context(), cmd...); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Restart(t.Context(), servers.RedisOptions{KeyLoadDelay: 100 * time.Microsecond}); err != nil {
		t.Fatal(err)
	}
	wantFail(t, redisAny, r.Addr, "Redis: LOADING Redis is loading the dataset in memory")
	await(t, redisAny, r.Addr, "")
	n, err := r.Do(t.Context(), "DBSIZE")
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(keys) {
		t.Fatalf("DBSIZE after loading: %v, want %d", n, keys)
	}
}
