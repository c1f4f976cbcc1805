package framework

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Sample is one line of the Prometheus text format.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Metrics is one scrape of a /metrics page.
type Metrics []Sample

// Lookup adds up every sample of name whose labels include all of match, and
// reports whether there was any.
func (m Metrics) Lookup(name string, match map[string]string) (float64, bool) {
	var total float64
	found := false
	for _, s := range m {
		if s.Name != name || !hasLabels(s.Labels, match) {
			continue
		}
		total += s.Value
		found = true
	}
	return total, found
}

// Sum is Lookup's total: zero when there is no such sample.
func (m Metrics) Sum(name string, match map[string]string) float64 {
	total, _ := m.Lookup(name, match)
	return total
}

// Has reports whether the scrape contains name at all.
func (m Metrics) Has(name string) bool {
	_, found := m.Lookup(name, nil)
	return found
}

// ByLabel adds up the samples of name matching match, grouped by the value
// of label.
func (m Metrics) ByLabel(name, label string, match map[string]string) map[string]float64 {
	out := map[string]float64{}
	for _, s := range m {
		if s.Name != name || !hasLabels(s.Labels, match) {
			continue
		}
		out[s.Labels[label]] += s.Value
	}
	return out
}

func hasLabels(labels, match map[string]string) bool {
	for k, v := range match {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// ParseMetrics reads the Prometheus text exposition format. Comments,
// and samples it cannot read, are skipped; only a read error fails.
func ParseMetrics(r io.Reader) (Metrics, error) {
	var out Metrics
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if s, ok := parseSample(line); ok {
			out = append(out, s)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading metrics: %w", err)
	}
	return out, nil
}

// parseSample reads `name{k="v",...} value [timestamp]`.
func parseSample(line string) (Sample, bool) {
	s := Sample{Labels: map[string]string{}}
	end := strings.IndexAny(line, "{ ")
	if end <= 0 {
		return s, false
	}
	s.Name = line[:end]
	rest := line[end:]
	if rest[0] == '{' {
		var ok bool
		rest, ok = parseLabels(rest[1:], s.Labels)
		if !ok {
			return s, false
		}
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return s, false
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return s, false
	}
	s.Value = v
	return s, true
}

// parseLabels reads `k="v",...}` into labels and returns what follows the
// closing brace.
func parseLabels(in string, labels map[string]string) (string, bool) {
	for {
		in = strings.TrimLeft(in, " ,")
		if in == "" {
			return "", false
		}
		if in[0] == '}' {
			return in[1:], true
		}
		eq := strings.IndexByte(in, '=')
		if eq <= 0 || len(in) < eq+2 || in[eq+1] != '"' {
			return "", false
		}
		key := strings.TrimSpace(in[:eq])
		in = in[eq+2:]
		var val strings.Builder
		closed := false
		for i := 0; i < len(in); i++ {
			c := in[i]
			if c == '\\' && i+1 < len(in) {
				i++
				switch in[i] {
				case 'n':
					val.WriteByte('\n')
				default:
					val.WriteByte(in[i])
				}
				continue
			}
			if c == '"' {
				in = in[i+1:]
				closed = true
				break
			}
			val.WriteByte(c)
		}
		if !closed {
			return "", false
		}
		labels[key] = val.String()
	}
}
