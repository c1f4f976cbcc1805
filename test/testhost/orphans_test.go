//go:build linux

package testhost

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// orphanEnv makes the test binary, re-run as a child, create a Host, print
// its name and wait to be killed.
const orphanEnv = "CRDDEMO_TESTHOST_ORPHAN"

// TestOrphanChild is the child's side of TestNewRemovesOrphans; on its own
// it does nothing.
func TestOrphanChild(t *testing.T) {
	if os.Getenv(orphanEnv) == "" {
		return
	}
	h, err := New(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString(h.Name + "\n")
	select {}
}

// TestNewRemovesOrphans: a test process killed with SIGKILL leaves its
// namespace, veth and route behind; the next New removes them, and leaves
// a live process's Host alone.
func TestNewRemovesOrphans(t *testing.T) {
	live := Require(t)
	if err := live.Serve(8080); err != nil {
		t.Fatal(err)
	}

	child := exec.Command(os.Args[0], "-test.run=^TestOrphanChild$", "-test.count=1")
	child.Env = append(os.Environ(), orphanEnv+"=1")
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = child.Process.Kill()
		_ = child.Wait()
		t.Fatalf("the child made no Host: %v", err)
	}
	orphan := strings.TrimSpace(line)
	_ = child.Process.Kill()
	_ = child.Wait()
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", orphan).Run() })
	if !strings.Contains(ip(t, "netns", "list"), orphan) {
		t.Fatalf("the killed child's namespace %s is not there to remove", orphan)
	}
	orphanVeth := vethHostPrefix + strings.TrimPrefix(orphan, nsPrefix)

	h, err := New(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })

	if strings.Contains(ip(t, "netns", "list"), orphan) {
		t.Errorf("namespace %s of a killed process still listed", orphan)
	}
	if out := ip(t, "route", "show", "table", "all"); strings.Contains(out, orphanVeth) {
		t.Errorf("routes via %s left behind:\n%s", orphanVeth, out)
	}
	if _, err := os.Stat(filepath.Join(ownersDir, orphan)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("owner record of %s: %v, want it removed", orphan, err)
	}
	if !strings.Contains(ip(t, "netns", "list"), live.Name) {
		t.Errorf("namespace %s of this live process was removed", live.Name)
	}
	mustAccept(t, live, 1, 8080)
}
