package nbioengine

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestBodyWriter(t *testing.T) {
	tests := []struct {
		name     string
		head     bool
		handle   func(w http.ResponseWriter)
		wantCode int
		wantCL   string // "" means no Content-Length
		wantBody string
	}{
		{"body gets its length", false, func(w http.ResponseWriter) {
			w.Write([]byte("12"))
			w.Write([]byte("345"))
		}, 200, "5", "12345"},
		{"no body is length 0, not chunked", false, func(w http.ResponseWriter) {}, 200, "0", ""},
		{"status is kept", false, func(w http.ResponseWriter) {
			w.WriteHeader(404)
			w.Write([]byte("nope"))
		}, 404, "4", "nope"},
		{"a wrong declared length is corrected", false, func(w http.ResponseWriter) {
			w.Header().Set("Content-Length", "9")
			w.Write([]byte("12345"))
		}, 200, "5", "12345"},
		{"Transfer-Encoding from the handler is dropped", false, func(w http.ResponseWriter) {
			w.Header().Set("Transfer-Encoding", "chunked")
			w.Header().Set("Trailer", "X-T")
			w.Write([]byte("ab"))
		}, 200, "2", "ab"},
		{"204 has neither body nor length", false, func(w http.ResponseWriter) {
			w.WriteHeader(204)
			w.Write([]byte("x"))
		}, 204, "", ""},
		{"1xx is not the final status", false, func(w http.ResponseWriter) {
			w.WriteHeader(103)
			w.WriteHeader(201)
		}, 201, "0", ""},
		{"HEAD: length of the discarded body", true, func(w http.ResponseWriter) { w.Write([]byte("12345")) }, 200, "5", ""},
		{"HEAD: handler's own Content-Length wins", true, func(w http.ResponseWriter) {
			w.Header().Set("Content-Length", "9")
			w.Write([]byte("12345"))
		}, 200, "9", ""},
		{"HEAD: no body is length 0, never a chunked terminator", true, func(w http.ResponseWriter) {
			w.WriteHeader(301)
		}, 301, "0", ""},
		{"Flush without a length over HTTP/1.0 waits for the handler", false, func(w http.ResponseWriter) {
			w.Write([]byte("ab"))
			w.(http.Flusher).Flush()
			if rec := w.(*bodyWriter).res.(*httptest.ResponseRecorder); rec.Body.Len() != 0 || rec.Flushed {
				panic("flushed without a length")
			}
			w.Write([]byte("c"))
		}, 200, "3", "abc"},
		{"Flush with a length streams", false, func(w http.ResponseWriter) {
			w.Header().Set("Content-Length", "3")
			w.Write([]byte("ab"))
			w.(http.Flusher).Flush()
			if rec := w.(*bodyWriter).res.(*httptest.ResponseRecorder); rec.Body.String() != "ab" || !rec.Flushed {
				panic("not streamed")
			}
			w.Write([]byte("c"))
		}, 200, "3", "abc"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			bw := newBodyWriter(rec, tc.head)
			tc.handle(bw)
			bw.finish()
			if rec.Code != tc.wantCode {
				t.Errorf("status %d, want %d", rec.Code, tc.wantCode)
			}
			if got := strings.Join(rec.Header()["Content-Length"], ","); got != tc.wantCL {
				t.Errorf("Content-Length %q, want %q", got, tc.wantCL)
			}
			if te := rec.Header()["Transfer-Encoding"]; len(te) != 0 {
				t.Errorf("Transfer-Encoding %q reached nbio", te)
			}
			if got := rec.Body.String(); got != tc.wantBody {
				t.Errorf("body %q, want %q", got, tc.wantBody)
			}
			if _, err := bw.Write([]byte("late")); err == nil {
				t.Error("a write after finish succeeded")
			}
			bw.Header().Set("X-Late", "1")
			if rec.Header().Get("X-Late") != "" {
				t.Error("a header set after finish reached the response")
			}
		})
	}
}
