//go:build linux

package servers

import (
	"errors"
	"os"
	"syscall"
	"testing"

	"github.com/crddemo/crddemo/test/testhost"
)

// TestCleanupLeavesNothing: once the test that started them ends, a
// server's process group (PostgreSQL's backends included) is gone and its
// directory removed.
func TestCleanupLeavesNothing(t *testing.T) {
	h := testhost.Require(t)
	cluster := NewPostgresCluster(t)
	var pids []int
	var dirs []string
	t.Run("servers", func(t *testing.T) {
		r := StartRedis(t, h, h.Addr(1), RedisOptions{})
		pg := cluster.StartPostgres(t, h, h.Addr(2), PostgresOptions{})
		// A session: a backend forked by the postmaster, in its group.
		pg.Hold(t)
		pids = append(pids, r.proc.cmd.Process.Pid, pg.proc.cmd.Process.Pid)
		dirs = append(dirs, r.dir, pg.dir)
	})
	for _, pid := range pids {
		// The group as well as its leader.
		for _, id := range []int{pid, -pid} {
			if err := syscall.Kill(id, 0); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("kill(%d, 0) after the test: %v, want ESRCH", id, err)
			}
		}
	}
	for _, dir := range dirs {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after the test: %v, want it removed", dir, err)
		}
	}
}
