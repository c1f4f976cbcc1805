package servers

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// workDir makes a fresh directory for one server and removes it when the
// test ends. It is made with os.MkdirTemp rather than t.TempDir: its path
// stays short (a unix socket's path has to fit in 108 bytes, and a subtest's
// name can be long) and its parents are traversable by the postgres user.
// Cleanups run last-registered first, so the server's own cleanup,
// registered after this, has stopped the process when the directory goes.
func workDir(t testing.TB, kind string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "crddemo-"+kind+"-")
	if err != nil {
		t.Fatalf("servers: %v", err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("servers: removing %s: %v", dir, err)
		}
	})
	return dir
}

// cleanupProcess stops p with sig at the end of a test, quoting its log
// first if the test failed. A nil p (never started) is nothing to stop.
func cleanupProcess(t testing.TB, p *process, sig syscall.Signal) {
	if p == nil {
		return
	}
	if t.Failed() {
		t.Logf("log of %s:%s", p.name, p.tail())
	}
	if err := p.stop(sig); err != nil {
		t.Errorf("servers: %v", err)
	}
}

// program finds an installed program by name: on PATH, or in the sbin
// directories a non-root PATH lacks (mariadbd lives in /usr/sbin).
func program(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("servers: %s is not installed (see .ci/run for the packages the tests need)", name)
}

// postgresProgram finds one of PostgreSQL's programs in the newest
// /usr/lib/postgresql/<version>/bin, where Debian installs them; its PATH
// has only wrappers for the client programs.
func postgresProgram(name string) (string, error) {
	matches, err := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if err != nil {
		return "", fmt.Errorf("servers: %w", err)
	}
	if len(matches) == 0 {
		return "", fmt.Errorf("servers: no /usr/lib/postgresql/*/bin/%s; install the postgresql package (see .ci/run)", name)
	}
	version := func(p string) float64 {
		v, _ := strconv.ParseFloat(strings.Split(strings.TrimPrefix(p, "/usr/lib/postgresql/"), "/")[0], 64)
		return v
	}
	sort.Slice(matches, func(i, j int) bool { return version(matches[i]) > version(matches[j]) })
	return matches[0], nil
}
