package main

import (
	"runtime/debug"
	"testing"
)

func TestApplyMemoryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	got, source, err := applyMemoryLimit(env(map[string]string{memoryLimitEnv: "1000000000"}))
	if err != nil || got != 900000000 || debug.SetMemoryLimit(-1) != 900000000 {
		t.Errorf("from the container limit: %d (%s), %v", got, source, err)
	}
	if _, _, err := applyMemoryLimit(env(map[string]string{memoryLimitEnv: "256Mi"})); err == nil {
		t.Error("a limit that is not a byte count was accepted")
	}
	// GOMEMLIMIT, set by hand, wins (the runtime has already applied it).
	debug.SetMemoryLimit(123 << 20)
	if got, source, _ := applyMemoryLimit(env(map[string]string{"GOMEMLIMIT": "123MiB", memoryLimitEnv: "1000000000"})); got != 123<<20 || source != "GOMEMLIMIT" {
		t.Errorf("GOMEMLIMIT not respected: %d from %s", got, source)
	}
}
