package main

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRunBadInput(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"unknown flag", []string{"--nope"}},
		{"address without port", []string{"--addr", "localhost", "--admin-addr", "off"}},
		{"non-loopback admin without token", []string{"--addr", "127.0.0.1:0", "--admin-addr", "0.0.0.0:0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code := run(tt.args); code != 2 {
				t.Errorf("run(%q) = %d, want 2", tt.args, code)
			}
		})
	}
}
