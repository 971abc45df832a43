package server

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/hotpath-dev/hotpath/service"
)

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

// BenchmarkHandler compares, in process and without the network, GET /time
// through a bare ServeMux with GET /time through the server's whole public
// handler (default chain + labelled route). The difference is what hotpath
// adds per request above net/http's own connection handling.
func BenchmarkHandler(b *testing.B) {
	bare := http.NewServeMux()
	bare.HandleFunc("GET /time", service.Time)
	s, err := New(Config{AdminAddr: AdminOff})
	if err != nil {
		b.Fatal(err)
	}
	service.Register(s)
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{{"bare-mux", bare}, {"hotpath", s.Handler()}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			r := httptest.NewRequest("GET", "/time", nil)
			w := &discardWriter{h: http.Header{}}
			for b.Loop() {
				clear(w.h)
				bc.h.ServeHTTP(w, r)
			}
		})
	}
}
