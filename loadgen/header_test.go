package loadgen

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
)

func selfPID() int { return os.Getpid() }

func TestParseHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in    string
		want        Header
		errContains string
	}{
		{"simple", "Accept: text/plain", Header{"Accept", "text/plain"}, ""},
		{"value keeps inner colons", "X-Time: 12:30:00", Header{"X-Time", "12:30:00"}, ""},
		{"spaces around value trimmed", "X-A:   b  ", Header{"X-A", "b"}, ""},
		{"empty value allowed", "X-Empty:", Header{"X-Empty", ""}, ""},
		{"no colon", "Accept text/plain", Header{}, "want \"Name: value\""},
		{"empty name", ": v", Header{}, "invalid field name"},
		{"space in name", "Bad Name: v", Header{}, "invalid field name"},
		{"CRLF injection in value", "X: a\r\nEvil: 1", Header{}, "invalid characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseHeader(tt.in)
			if tt.errContains != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errContains) {
					t.Fatalf("err = %v, want %q", err, tt.errContains)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// FuzzParseHeader: anything accepted must be safe to put on the wire (valid
// name and value, no CR/LF), and errors are single-line.
func FuzzParseHeader(f *testing.F) {
	for _, s := range []string{"Accept: */*", "X: a:b", ": x", "a\r\nb: c", "Host:example.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHeader(s)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n") && !strings.ContainsAny(s, "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		if !httpguts.ValidHeaderFieldName(h.Name) || !httpguts.ValidHeaderFieldValue(h.Value) ||
			strings.ContainsAny(h.Name+h.Value, "\r\n") {
			t.Fatalf("accepted unsafe header %q -> %+v", s, h)
		}
	})
}
