package main

import (
	"strings"
	"testing"
)

func TestGoMemoryLimit(t *testing.T) {
	tests := []struct {
		name       string
		env        map[string]string
		wantBytes  int64
		wantSource string
		wantErr    string
	}{
		{name: "nothing set", env: nil, wantSource: "none"},
		{name: "container limit", env: map[string]string{envMemoryLimit: "268435456"}, wantBytes: 241591910, wantSource: envMemoryLimit},
		{name: "GOMEMLIMIT wins", env: map[string]string{envMemoryLimit: "268435456", envGoMemLimit: "100MiB"}, wantSource: envGoMemLimit},
		{name: "empty GOMEMLIMIT is ignored", env: map[string]string{envMemoryLimit: "1000", envGoMemLimit: ""}, wantBytes: 900, wantSource: envMemoryLimit},
		{name: "empty container limit", env: map[string]string{envMemoryLimit: " "}, wantSource: "none"},
		{name: "quantity instead of bytes", env: map[string]string{envMemoryLimit: "256Mi"}, wantErr: envMemoryLimit + `="256Mi"`},
		{name: "zero", env: map[string]string{envMemoryLimit: "0"}, wantErr: "positive number of bytes"},
		{name: "negative", env: map[string]string{envMemoryLimit: "-5"}, wantErr: "positive number of bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lookup := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			got, err := goMemoryLimit(lookup)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got.bytes != tc.wantBytes || got.source != tc.wantSource {
				t.Fatalf("got %+v, want bytes=%d source=%s", got, tc.wantBytes, tc.wantSource)
			}
		})
	}
}
