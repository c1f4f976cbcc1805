package main

import (
	"fmt"
	"runtime/debug"
	"strconv"
)

// memoryLimitEnv carries the container's memory limit in bytes, from the
// downward API (resourceFieldRef limits.memory), as deploy/ sets it.
const memoryLimitEnv = "CRDDEMO_MEMORY_LIMIT"

// memoryLimitFraction of the container limit becomes the Go memory limit:
// the rest is for what the Go runtime does not count (stacks of exiting
// goroutines, the binary, kernel buffers), so the garbage collector works
// harder before the kernel's OOM killer would strike.
const memoryLimitFraction = 0.9

// applyMemoryLimit sets the Go memory limit from memoryLimitEnv unless
// GOMEMLIMIT is set. It returns the limit in force (0: none) and how it
// was chosen, for the start-up log.
func applyMemoryLimit(getenv func(string) string) (int64, string, error) {
	if v := getenv("GOMEMLIMIT"); v != "" {
		return debug.SetMemoryLimit(-1), "GOMEMLIMIT", nil
	}
	v := getenv(memoryLimitEnv)
	if v == "" {
		return 0, "none", nil
	}
	limit, err := strconv.ParseInt(v, 10, 64)
	if err != nil || limit <= 0 {
		return 0, "", fmt.Errorf("%s=%q is not a positive number of bytes", memoryLimitEnv, v)
	}
	goLimit := int64(float64(limit) * memoryLimitFraction)
	debug.SetMemoryLimit(goLimit)
	return goLimit, fmt.Sprintf("%.0f%% of %s", memoryLimitFraction*100, memoryLimitEnv), nil
}
