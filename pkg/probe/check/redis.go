package check

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
