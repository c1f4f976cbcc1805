package testhost

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ownersDir holds a file per Host namespace naming the process that made
// it (pid and start time). A test binary that dies without its cleanup
// (a panic on go test's -timeout, kill -9) leaves its namespaces, and with
// them their routes and subnets, behind; the next New finds their owner
// gone and removes them. It lives on /run, as the namespaces do, so
// neither outlives a reboot.
const ownersDir = "/run/crddemo-testhost"

// recordOwner writes the owner file of namespace name: this process.
func recordOwner(name string) error {
	start, err := processStart(os.Getpid())
	if err != nil {
		return err
	}
	if err := os.MkdirAll(ownersDir, 0o755); err != nil {
		return fmt.Errorf("recording the owner of %s: %w", name, err)
	}
	line := fmt.Sprintf("%d %s\n", os.Getpid(), start)
	if err := os.WriteFile(filepath.Join(ownersDir, name), []byte(line), 0o644); err != nil {
		return fmt.Errorf("recording the owner of %s: %w", name, err)
	}
	return nil
}

// forgetOwner removes the owner file of namespace name, once the
// namespace is gone.
func forgetOwner(name string) error {
	if err := os.Remove(filepath.Join(ownersDir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing the owner record of %s: %w", name, err)
	}
	return nil
}

// removeOrphans deletes every recorded namespace whose owner has exited,
// and its owner file. It runs under the allocation lock, so no other New
// is between recording an owner and creating the namespace.
func removeOrphans(ctx context.Context) error {
	entries, err := os.ReadDir(ownersDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("testhost: listing namespace owners: %w", err)
	}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, nsPrefix) {
			continue
		}
		record, err := os.ReadFile(filepath.Join(ownersDir, name))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ownerAlive(string(record)) {
			continue
		}
		// Deleting the namespace deletes its veth pair, and with the host
		// end the routes through it.
		if _, err := runIP(ctx, "", "netns", "del", name); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("removing %s, left by an exited test process: %w", name, err))
			continue
		}
		if err := forgetOwner(name); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("testhost: %w", err)
	}
	return nil
}

// ownerAlive reports whether the process an owner record names still
// runs: its pid exists with the same start time (a reused pid does not
// count). A record it cannot read counts as alive, so nothing is removed
// on a guess.
func ownerAlive(record string) bool {
	pidText, start, ok := strings.Cut(strings.TrimSpace(record), " ")
	if !ok {
		return true
	}
	pid, err := strconv.Atoi(pidText)
	if err != nil {
		return true
	}
	now, err := processStart(pid)
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	return err != nil || now == start
}

// processStart is the start time of process pid in clock ticks since
// boot, field 22 of /proc/<pid>/stat.
func processStart(pid int) (string, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", err
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// the fields after it are plain.
	end := strings.LastIndexByte(string(stat), ')')
	if end < 0 {
		return "", fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	fields := strings.Fields(string(stat[end+1:]))
	// fields[0] is field 3 (state).
	const startField = 22 - 3
	if len(fields) <= startField {
		return "", fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	return fields[startField], nil
}
