package policy

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/hotpath-dev/hotpath/service"
)

func TestCloseAfterChunked(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		proto     int
		te        []string
		wantClose bool
	}{
		{"chunked HTTP/1.1 request closes", 1, []string{"chunked"}, true},
		{"request without a body keeps the connection", 1, nil, false},
		// net/http never sets TransferEncoding on HTTP/2 requests, and
		// Connection is not an HTTP/2 header; be sure not to send it.
		{"HTTP/2 request is left alone", 2, []string{"chunked"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("POST", "/echo", nil)
			r.ProtoMajor, r.TransferEncoding = tt.proto, tt.te
			w := httptest.NewRecorder()
			CloseAfterChunked(http.HandlerFunc(service.Echo)).ServeHTTP(w, r)
			if got := w.Result().Header.Get("Connection") == "close"; got != tt.wantClose {
				t.Errorf("Connection: close sent %v, want %v", got, tt.wantClose)
			}
		})
	}
}

// BenchmarkCloseAfterChunked compares GET /time with and without the
// Transfer-Encoding check in front of it: the check must cost nothing
// measurable on a request without a body.
func BenchmarkCloseAfterChunked(b *testing.B) {
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{
		{"bare", http.HandlerFunc(service.Time)},
		{"CloseAfterChunked", CloseAfterChunked(http.HandlerFunc(service.Time))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			r := httptest.NewRequest("GET", "/time", nil)
			w := &benchWriter{h: http.Header{}}
			for b.Loop() {
				clear(w.h)
				bc.h.ServeHTTP(w, r)
			}
		})
	}
}
