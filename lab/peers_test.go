package lab

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDiscoverPeers simulates PATH: a missing program is a "not installed"
// status naming the package, --peers none and a list leave peers out.
func TestDiscoverPeers(t *testing.T) {
	onPath := func(names ...string) func(string) (string, error) {
		return func(p string) (string, error) {
			for _, n := range names {
				if n == p {
					return "/usr/bin/" + p, nil
				}
			}
			return "", errors.New("not found")
		}
	}
	tests := []struct {
		name    string
		mode    string
		path    []string
		found   []string
		missing map[string]string // peer → status prefix
	}{
		{"auto finds what is on PATH", "auto", []string{"node"}, []string{"nodejs"},
			map[string]string{"nginx": "not installed (`apt-get install nginx`)", "ab": "not installed (`apt-get install apache2-utils`)"}},
		{"none uses nothing", "none", []string{"node", "nginx"}, nil,
			map[string]string{"nginx": "not installed", "nodejs": "not installed"}},
		{"a list uses only those", "nginx", []string{"node", "nginx"}, []string{"nginx"},
			map[string]string{"nodejs": "not installed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := discoverPeers(context.Background(), tt.mode, onPath(tt.path...))
			for _, n := range tt.found {
				if ps.path(n) == "" {
					t.Errorf("%s not found", n)
				}
			}
			if len(ps.paths) != len(tt.found) {
				t.Errorf("found %v, want only %v", ps.paths, tt.found)
			}
			for n, prefix := range tt.missing {
				if !strings.HasPrefix(ps.missing[n], prefix) {
					t.Errorf("%s: status %q, want prefix %q", n, ps.missing[n], prefix)
				}
			}
		})
	}
}

func TestShebang(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct{ name, text, want string }{
		{"absolute", "#!/usr/bin/python3\nimport x\n", "/usr/bin/python3"},
		{"with options", "#!/usr/bin/python3 -s\n", "/usr/bin/python3"},
		{"not a script", "\x7fELF", ""},
	} {
		p := filepath.Join(dir, tt.name)
		if err := os.WriteFile(p, []byte(tt.text), 0o755); err != nil {
			t.Fatal(err)
		}
		if got := shebang(p); got != tt.want {
			t.Errorf("%s: shebang = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestPeerConfigs holds the generated configurations to what the rows
// promise: nginx one process, no access log, everything in its directory,
// the port and the connection room; Node.js keeps idle connections; Flask
// serves /time.
func TestPeerConfigs(t *testing.T) {
	dir := t.TempDir()
	conf, err := writeNginxConf(filepath.Join(dir, "nginx"), 41234, 2000)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	nginx := string(b)
	for _, want := range []string{"master_process off;", "worker_processes 1;", "access_log off;", "daemon off;",
		"listen 127.0.0.1:41234;", "worker_connections 2100;", "error_log " + filepath.Join(dir, "nginx") + "/error.log;",
		"location = /time", "return 200"} {
		if !strings.Contains(nginx, want) {
			t.Errorf("nginx.conf lacks %q:\n%s", want, nginx)
		}
	}
	if strings.Contains(nginx, "/var/") || strings.Contains(nginx, "/etc/") {
		t.Errorf("nginx.conf points outside its directory:\n%s", nginx)
	}
	if err := writeScripts(dir); err != nil {
		t.Fatal(err)
	}
	js, _ := os.ReadFile(filepath.Join(dir, "server.js"))
	py, _ := os.ReadFile(filepath.Join(dir, "app.py"))
	for _, c := range []struct{ file, text, want string }{
		{"server.js", string(js), "keepAliveTimeout = 300000"},
		{"server.js", string(js), "'127.0.0.1'"},
		{"server.js", string(js), "req.url === '/time'"},
		{"app.py", string(py), `@app.get("/time")`},
		{"app.py", string(py), "time.time() * 1000"},
	} {
		if !strings.Contains(c.text, c.want) {
			t.Errorf("%s lacks %q", c.file, c.want)
		}
	}
}
