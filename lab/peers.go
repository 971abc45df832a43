package lab

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"
	"time"
)

// A peer is a program the lab compares hotpath with (or measures with) that
// is not part of hotpath: found on PATH, never installed by the lab.
type peer struct {
	Name    string // as in --peers: nginx, gunicorn-flask, nodejs, ab, grpc-gateway
	Program string // looked up on PATH
	Package string // the Debian package that provides it
	// Hint, when set, replaces "apt-get install Package" in the status.
	Hint string
}

var knownPeers = []peer{
	{"nginx", "nginx", "nginx", ""},
	{"gunicorn-flask", "gunicorn", "gunicorn python3-flask", ""},
	{"nodejs", "node", "nodejs", ""},
	{"ab", "ab", "apache2-utils", ""},
	// grpc-gateway as a proxy process (the seed's §4.4 setup): hotpath's
	// internal/cmd/gwproxy, which the hotpath binary does not link.
	{"grpc-gateway", "gwproxy", "", "`go build -o /usr/local/bin/gwproxy ./internal/cmd/gwproxy` in hotpath's source"},
}

// PeerNames returns the names --peers accepts in a list.
func PeerNames() []string {
	n := make([]string, len(knownPeers))
	for i, p := range knownPeers {
		n[i] = p.Name
	}
	return n
}

// peerSet is the result of peer discovery: for each peer, its path (found)
// or why not.
type peerSet struct {
	paths    map[string]string // name → program path
	missing  map[string]string // name → row status ("not installed (`apt-get install nginx`)")
	versions map[string]string // name → version line
}

func (ps peerSet) path(name string) string { return ps.paths[name] }

// discoverPeers looks the peers up on PATH. mode is "auto" (every peer found),
// "none" (no peer: every peer row says "not installed") or a comma list of
// peer names (those only). lookPath is exec.LookPath outside tests.
func discoverPeers(ctx context.Context, mode string, lookPath func(string) (string, error)) peerSet {
	ps := peerSet{paths: map[string]string{}, missing: map[string]string{}, versions: map[string]string{}}
	want := map[string]bool{}
	switch mode {
	case "auto":
		for _, p := range knownPeers {
			want[p.Name] = true
		}
	case "none":
	default:
		for _, n := range strings.Split(mode, ",") {
			want[strings.TrimSpace(n)] = true
		}
	}
	for _, p := range knownPeers {
		status := fmt.Sprintf("not installed (`apt-get install %s`)", p.Package)
		if p.Hint != "" {
			status = "not installed (" + p.Hint + ")"
		}
		if !want[p.Name] {
			ps.missing[p.Name] = status + "; left out by --peers " + mode
			continue
		}
		path, err := lookPath(p.Program)
		if err != nil {
			ps.missing[p.Name] = status
			continue
		}
		if p.Name == "gunicorn-flask" {
			py := shebang(path)
			if py == "" || exec.CommandContext(ctx, py, "-c", "import flask").Run() != nil {
				ps.missing[p.Name] = "not installed (`apt-get install python3-flask`: gunicorn's Python cannot import flask)"
				continue
			}
		}
		ps.paths[p.Name] = path
		ps.versions[p.Name] = peerVersion(ctx, p.Name, path)
	}
	return ps
}

// shebang returns the interpreter named on the first line of a script, or "".
func shebang(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	line, ok := strings.CutPrefix(strings.TrimSpace(line), "#!")
	if !ok {
		return ""
	}
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return ""
	}
	if filepath.Base(fields[0]) == "env" && len(fields) > 1 {
		p, err := exec.LookPath(fields[1])
		if err != nil {
			return ""
		}
		return p
	}
	return fields[0]
}

// peerVersion returns the first line a peer prints about its version.
func peerVersion(ctx context.Context, name, path string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var cmd *exec.Cmd
	switch name {
	case "nginx":
		cmd = exec.CommandContext(ctx, path, "-v")
	case "ab":
		cmd = exec.CommandContext(ctx, path, "-V")
	case "grpc-gateway":
		return "gwproxy (hotpath's internal/cmd/gwproxy; no version flag)"
	case "gunicorn-flask":
		py := shebang(path)
		cmd = exec.CommandContext(ctx, py, "-c",
			"import importlib.metadata as m; print('gunicorn ' + m.version('gunicorn') + ', flask ' + m.version('flask'))")
	default:
		cmd = exec.CommandContext(ctx, path, "--version")
	}
	out, _ := cmd.CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if name == "nodejs" {
		line = "node " + line
	}
	return line
}

// nginxConf is the reference nginx: one process (no master), one worker's
// event loop, room for conns connections, every request answered 200 with
// body (text/plain) without logging. Everything it writes stays in dir.
var nginxConf = template.Must(template.New("nginx").Parse(`daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile {{.Files}};
error_log {{.Dir}}/error.log;
pid {{.Dir}}/nginx.pid;
events { worker_connections {{.Files}}; }
http {
    access_log off;
    keepalive_timeout 300s;
    keepalive_requests 1000000;
    client_body_temp_path {{.Dir}};
    proxy_temp_path {{.Dir}};
    fastcgi_temp_path {{.Dir}};
    uwsgi_temp_path {{.Dir}};
    scgi_temp_path {{.Dir}};
    server {
        listen 127.0.0.1:{{.Port}};
        location = /time { default_type text/plain; return 200 "{{.Body}}"; }
        location / { return 404; }
    }
}
`))

// nodeScript is the Node.js row: the http module's server, GET /time answered
// with Date.now() as text, keep-alive connections kept for 300 s (Node's
// default of 5 s would close the idle connections the memory test holds).
const nodeScript = `'use strict';
const http = require('http');
const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/time') {
    res.writeHead(200, {'Content-Type': 'text/plain; charset=utf-8'});
    res.end(String(Date.now()));
    return;
  }
  res.writeHead(404);
  res.end();
});
server.keepAliveTimeout = 300000;
server.headersTimeout = 301000;
server.requestTimeout = 0;
server.maxHeadersCount = 100;
server.listen(Number(process.argv[2]), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`

// flaskApp is the WSGI row's application, the seed's /time on Flask.
const flaskApp = `import time
from flask import Flask

app = Flask(__name__)


@app.get("/time")
def now():
    return str(int(time.time() * 1000)), 200, {"Content-Type": "text/plain; charset=utf-8"}
`

// gunicornWorkers is the sync worker count of the WSGI row: gunicorn's
// documented starting point, (2 × cores) + 1, for the one core the server is
// pinned to.
const gunicornWorkers = 3

// writeNginxConf writes dir/nginx.conf for port, with room for conns
// connections, and returns its path.
func writeNginxConf(dir string, port, conns int) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	var b strings.Builder
	err := nginxConf.Execute(&b, struct {
		Dir         string
		Port, Files int
		Body        string
	}{dir, port, conns + 100, "1700000000000"})
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "nginx.conf")
	return path, os.WriteFile(path, []byte(b.String()), 0o644)
}

// writeScripts writes the Node.js server (server.js) and the Flask app
// (app.py) into dir.
func writeScripts(dir string) error {
	for name, text := range map[string]string{"server.js": nodeScript, "app.py": flaskApp} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return err
		}
	}
	return nil
}
