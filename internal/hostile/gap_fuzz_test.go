package hostile

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzGapStatusParsers fuzzes the gap cases' two readers of raw answers,
// statusOf and finalStatuses: they take whatever a hostile test provoked,
// so they must not panic on any bytes, statusOf returns a number only for
// a second field of three digits (seed 6 once got 2^63-1 from an
// overflowing Atoi), and finalStatuses returns three-character
// codes other than 100 that appear at the start of a line.
func FuzzGapStatusParsers(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n",
		"HTTP/1.1 4",
		"HTTP/1.1 ",
		"",
		"\r\n\r\nHTTP/1.1 503 x",
		"HTTP/1.1 999999999999999999999 x",
		"HTTP/1.1 \xff\xfe\xfd",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if st := statusOf(s); st != 0 {
			fields := strings.Fields(s)
			if len(fields) < 2 {
				t.Fatalf("statusOf(%q) = %d with no second field", s, st)
			}
			if n, err := strconv.Atoi(fields[1]); err != nil || n != st || len(fields[1]) != 3 {
				t.Errorf("statusOf(%q) = %d, not its second field %q", s, st, fields[1])
			}
		}
		for _, code := range finalStatuses([]byte(s)) {
			if len(code) != 3 || code == "100" {
				t.Errorf("finalStatuses(%q) returned %q", s, code)
			}
			if !strings.Contains(s, "HTTP/1.1 "+code) {
				t.Errorf("finalStatuses(%q) returned %q, which is not in it", s, code)
			}
		}
	})
}
