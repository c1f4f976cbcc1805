package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Environment variables that decide the Go runtime's soft memory limit.
const (
	// envGoMemLimit is read by the Go runtime itself; when it is set, the
	// controller leaves the limit alone, so an explicit value always wins.
	envGoMemLimit = "GOMEMLIMIT"
	// envMemoryLimit carries the container's memory limit in bytes; the
	// Deployment fills it from the downward API (resourceFieldRef
	// limits.memory), so the Go limit follows the container's limit when
	// the latter is changed.
	envMemoryLimit = "CRDDEMO_MEMORY_LIMIT"
)

// memoryLimitFraction of the container's limit becomes the Go limit: the
// rest is room for memory the Go runtime does not count (thread stacks,
// fragmentation of returned pages) before the kernel's OOM killer acts.
const memoryLimitFraction = 0.9

// memoryLimit is the soft limit the controller sets, and where it came
// from, for the start-up log.
type memoryLimit struct {
	// bytes is the limit to set with debug.SetMemoryLimit; 0 means leave
	// the runtime's own (GOMEMLIMIT, or none) in place.
	bytes int64
	// source names what decided the limit.
	source string
}

// goMemoryLimit decides the Go soft memory limit from the environment.
// lookup is os.LookupEnv outside tests.
func goMemoryLimit(lookup func(string) (string, bool)) (memoryLimit, error) {
	if v, ok := lookup(envGoMemLimit); ok && v != "" {
		return memoryLimit{source: envGoMemLimit}, nil
	}
	v, ok := lookup(envMemoryLimit)
	if !ok || strings.TrimSpace(v) == "" {
		return memoryLimit{source: "none"}, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n <= 0 {
		return memoryLimit{}, fmt.Errorf("%s=%q: want the container's memory limit as a positive number of bytes (resourceFieldRef limits.memory, divisor 1)", envMemoryLimit, v)
	}
	// A container without a limit gets the node's allocatable memory from
	// the downward API; that is still a sound upper bound.
	limit := int64(math.Floor(float64(n) * memoryLimitFraction))
	return memoryLimit{bytes: limit, source: envMemoryLimit}, nil
}
