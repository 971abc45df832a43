package doctor

import (
	"strings"
	"testing"
)

func TestPprofBase(t *testing.T) {
	tests := []struct {
		name    string
		admin   string
		want    string
		wantErr bool
	}{
		{"host and port gets the standard mount", "http://127.0.0.1:6060", "http://127.0.0.1:6060/debug/pprof/", false},
		{"trailing slash is not doubled", "http://127.0.0.1:6060/", "http://127.0.0.1:6060/debug/pprof/", false},
		{"full pprof URL is kept", "https://h/debug/pprof", "https://h/debug/pprof/", false},
		{"prefix before the mount is kept", "http://h/admin/debug/pprof/", "http://h/admin/debug/pprof/", false},
		{"path prefix gets the mount appended", "http://h/admin", "http://h/admin/debug/pprof/", false},
		{"other schemes are refused", "ftp://h", "", true},
		{"a bare host:port has no scheme", "127.0.0.1:6060", "", true},
		{"no host", "http:///debug/pprof", "", true},
		{"queries are refused", "http://h/?debug=1", "", true},
		{"unparsable", "http://[::1", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := pprofBase(tt.admin)
			if (err != nil) != tt.wantErr {
				t.Fatalf("pprofBase(%q) error = %v, wantErr %v", tt.admin, err, tt.wantErr)
			}
			if err == nil && u.String() != tt.want {
				t.Errorf("pprofBase(%q) = %q, want %q", tt.admin, u, tt.want)
			}
		})
	}
}

func TestFirstLine(t *testing.T) {
	long := strings.Repeat("x", 300)
	tests := []struct{ name, in, want string }{
		{"empty body is named", " \n", "(empty body)"},
		{"first non-empty line only", "\n  bad thing\nmore\n", "bad thing"},
		{"long line is cut", long, long[:120] + "..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := firstLine([]byte(tt.in)); got != tt.want {
				t.Errorf("firstLine = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestShellQuote(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain path untouched", "out/cpu.pb.gz", "out/cpu.pb.gz"},
		{"space is quoted", "my dir/cpu.pb.gz", "'my dir/cpu.pb.gz'"},
		{"single quote is escaped", "it's/x", `'it'\''s/x'`},
		{"empty is quoted", "", "''"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := shellQuote(tt.in); got != tt.want {
				t.Errorf("shellQuote(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
