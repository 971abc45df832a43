package lab

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	ok := Config{Binary: "/bin/hotpath"}
	tests := []struct {
		name string
		mod  func(*Config)
		flag string // "" = valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"known scenarios", func(c *Config) { c.Only = []string{"servers", "gc"} }, ""},
		{"peer list", func(c *Config) { c.Peers = "nginx,nodejs" }, ""},
		{"unknown scenario", func(c *Config) { c.Only = []string{"servers", "nope"} }, "--only"},
		{"unknown peer", func(c *Config) { c.Peers = "nginx,apache" }, "--peers"},
		{"duration too short", func(c *Config) { c.Duration = time.Millisecond }, "--duration"},
		{"negative duration", func(c *Config) { c.Duration = -time.Second }, "--duration"},
		{"too many rounds", func(c *Config) { c.Rounds = 1000 }, "--rounds"},
		{"no binary", func(c *Config) { c.Binary = "" }, "binary"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.mod(&c)
			err := c.Validate()
			if tt.flag == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.flag) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v, want one line wrapping ErrConfig naming %s", err, tt.flag)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	q := Config{Quick: true}.withDefaults()
	f := Config{}.withDefaults()
	if q.Duration != time.Second || q.Rounds != 2 || f.Duration != 5*time.Second || f.Rounds != 3 || f.Peers != "auto" {
		t.Fatalf("defaults: quick %v/%d, full %v/%d/%s", q.Duration, q.Rounds, f.Duration, f.Rounds, f.Peers)
	}
	if len(f.Only) != len(ScenarioIDs()) {
		t.Fatal("no --only must run every scenario")
	}
}

func TestPrepareOut(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	if err := PrepareOut(dir); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("PrepareOut left %v behind", ents)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := PrepareOut(filepath.Join(file, "sub")); !errors.Is(err, ErrConfig) {
		t.Fatalf("--out under a file: %v, want ErrConfig", err)
	}
	if DefaultOut(time.Date(2026, 12, 7, 23, 0, 0, 0, time.UTC)) != "hotpath-lab-2026-12-07" {
		t.Fatal("DefaultOut format")
	}
}

func TestPlaceholders(t *testing.T) {
	l := &lab{}
	for _, tt := range []struct{ id, status string }{
		{Protocols, "not built yet"},
	} {
		s := l.scenario(t.Context(), tt.id)
		if s.ID != tt.id || len(s.Rows) == 0 {
			t.Fatalf("%s: %+v", tt.id, s)
		}
		for _, r := range s.Rows {
			if r.Status != tt.status || len(r.Metrics) != 0 {
				t.Errorf("%s row %s: status %q with %d metrics, want %q and no figure", tt.id, r.Name, r.Status, len(r.Metrics), tt.status)
			}
		}
	}
}
