package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		err        error
		status     int
		retryAfter string
	}{
		{"stored", nil, 202, ""},
		{"empty body is the client's fault", ErrEmpty, 400, ""},
		{"too large", ErrTooLarge, 413, ""},
		{"queue full: retry soon", ErrQueueFull, 503, "1"},
		{"sink failed (wrapped as the batcher does)", fmt.Errorf("%w: %w", ErrSinkUnavailable, errDiskFull), 503, "1"},
		{"shutting down", ErrClosed, 503, "1"},
		{"client timeout", context.DeadlineExceeded, 503, "1"},
		{"client gone", context.Canceled, 503, "1"},
		{"unknown error is ours", errors.New("boom"), 500, ""},
	}
	for _, tt := range tests {
		if s, ra := Status(tt.err); s != tt.status || ra != tt.retryAfter {
			t.Errorf("%s: Status = %d %q, want %d %q", tt.name, s, ra, tt.status, tt.retryAfter)
		}
	}
}

func TestAcceptedBodies(t *testing.T) {
	t.Parallel()
	p := Position{Partition: 3, Offset: 1234567890123}
	if got := string(AppendAccepted([]byte("x"), p)); got != "x{\"offset\":1234567890123}\n" {
		t.Errorf("AppendAccepted = %q", got)
	}
	if got := string(AppendAcceptedPartition(nil, p)); got != "{\"partition\":3,\"offset\":1234567890123}\n" {
		t.Errorf("AppendAcceptedPartition = %q", got)
	}
	if got := string(AppendError(nil, ErrQueueFull)); got != "{\"error\":\"ingest queue full, retry later\"}\n" {
		t.Errorf("AppendError = %q", got)
	}
}

func serve(t *testing.T, b *Batcher) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("POST /ingest", Handler(b))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func post(t *testing.T, url string, body io.Reader) (*http.Response, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/ingest", body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// onlyReader hides a strings.Reader's Len so the client sends the body
// chunked, without a Content-Length.
type onlyReader struct{ io.Reader }

func TestHandler(t *testing.T) {
	t.Parallel()
	s := &memSink{}
	b := newBatcher(t, s, Config{BatchSize: 1, MaxEventBytes: 8})
	srv := serve(t, b)
	tests := []struct {
		name       string
		body       io.Reader
		status     int
		body0      string
		retryAfter string
	}{
		{"first event gets offset 0", strings.NewReader("hello"), 202, "{\"offset\":0}\n", ""},
		{"exactly the limit", strings.NewReader("12345678"), 202, "{\"offset\":1}\n", ""},
		{"empty body", strings.NewReader(""), 400, "{\"error\":\"empty event\"}\n", ""},
		{"over the limit by Content-Length", strings.NewReader("123456789"), 413, "{\"error\":\"event too large\"}\n", ""},
		{"over the limit, chunked", onlyReader{strings.NewReader(strings.Repeat("x", 100))}, 413, "{\"error\":\"event too large\"}\n", ""},
		{"chunked within the limit", onlyReader{strings.NewReader("chunk")}, 202, "{\"offset\":2}\n", ""},
	}
	for _, tt := range tests { // in order: offsets follow
		resp, body := post(t, srv.URL, tt.body)
		if resp.StatusCode != tt.status || body != tt.body0 || resp.Header.Get("Retry-After") != tt.retryAfter {
			t.Errorf("%s: %d %q Retry-After %q, want %d %q %q", tt.name, resp.StatusCode, body,
				resp.Header.Get("Retry-After"), tt.status, tt.body0, tt.retryAfter)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", tt.name, ct)
		}
	}
	if _, stored, _ := s.snapshot(); len(stored) != 3 || string(stored[2]) != "chunk" {
		t.Errorf("stored %q", stored)
	}
	if got := testutil.ToFloat64(b.m.tooLarge); got != 2 {
		t.Errorf("too_large = %v, want 2", got)
	}
}

func TestHandlerPartitioned(t *testing.T) {
	t.Parallel()
	b := newBatcher(t, &partSink{}, Config{BatchSize: 1})
	resp, body := post(t, serve(t, b).URL, strings.NewReader("x"))
	if resp.StatusCode != 202 || body != "{\"partition\":0,\"offset\":0}\n" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
}

// A full queue is 503 with Retry-After at once, and so is a failing sink.
func TestHandlerUnavailable(t *testing.T) {
	t.Parallel()
	s := &memSink{block: make(chan struct{}), entered: make(chan struct{}, 1)}
	b := newBatcher(t, s, Config{BatchSize: 1, Queue: 1})
	srv := serve(t, b)
	done := make(chan string, 1)
	go func() {
		resp, body := post(t, srv.URL, strings.NewReader("held"))
		done <- fmt.Sprint(resp.StatusCode, " ", body)
	}()
	<-s.entered
	resp, body := post(t, srv.URL, strings.NewReader("refused"))
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" || body != "{\"error\":\"ingest queue full, retry later\"}\n" {
		t.Errorf("full: %d %q Retry-After %q", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	s.mu.Lock()
	s.err = errDiskFull
	s.mu.Unlock()
	close(s.block)
	if got := <-done; got != "503 {\"error\":\"sink unavailable, retry later\"}\n" {
		t.Errorf("failed write: %q", got)
	}
}

// Submit through the pooled waiter costs no allocation once warm (the
// channel hand-off and pooled waiters are the point of the design).
func TestSubmitAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	b := newBatcher(t, &nopSink{}, Config{BatchSize: 1, BatchWait: time.Millisecond})
	event := []byte("event")
	ctx := context.Background()
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := b.Submit(ctx, event); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Errorf("Submit allocates %v times per event, want 0", allocs)
	}
}

// countingReader serves n bytes of 'x' and counts what was read.
type countingReader struct{ n, read int }

func (r *countingReader) Read(p []byte) (int, error) {
	if r.read >= r.n {
		return 0, io.EOF
	}
	m := min(len(p), r.n-r.read)
	for i := range p[:m] {
		p[i] = 'x'
	}
	r.read += m
	return m, nil
}

// An endless body is refused after reading MaxEventBytes+1 bytes of it,
// not all of it.
func TestHandlerReadsAtMostTheLimit(t *testing.T) {
	t.Parallel()
	b := newBatcher(t, &memSink{}, Config{BatchSize: 1, MaxEventBytes: 1000})
	body := &countingReader{n: 1 << 30}
	r := httptest.NewRequest(http.MethodPost, "/ingest", nil)
	r.Body, r.ContentLength = io.NopCloser(body), -1
	w := httptest.NewRecorder()
	Handler(b).ServeHTTP(w, r)
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d", w.Code)
	}
	if body.read != 1001 {
		t.Fatalf("read %d bytes of the body, want MaxEventBytes+1 = 1001", body.read)
	}
}

// nopWriter is the cheapest http.ResponseWriter: it keeps the status only.
type nopWriter struct {
	h    http.Header
	code int
}

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *nopWriter) WriteHeader(code int)        { w.code = code }

// The handler core adds no allocation of its own to net/http's: pooled body
// and response buffers, shared header values, pooled waiters.
func TestHandlerAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	b := newBatcher(t, &nopSink{}, Config{BatchSize: 1, BatchWait: time.Millisecond})
	h := Handler(b)
	body := strings.NewReader("")
	r := httptest.NewRequest(http.MethodPost, "/ingest", nil)
	r.Body = io.NopCloser(body)
	w := &nopWriter{h: http.Header{}}
	allocs := testing.AllocsPerRun(200, func() {
		body.Reset("event")
		r.ContentLength = 5
		h.ServeHTTP(w, r)
		if w.code != http.StatusAccepted {
			t.Fatalf("status %d", w.code)
		}
	})
	if allocs > 0 {
		t.Errorf("Handler allocates %v times per request, want 0", allocs)
	}
}

// A server-wide body limit (the policy chain's MaxBytes) below
// MaxEventBytes is 413 too, not 400.
func TestHandlerUnderMaxBytesReader(t *testing.T) {
	t.Parallel()
	b := newBatcher(t, &memSink{}, Config{BatchSize: 1})
	inner := Handler(b)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 4)
		inner.ServeHTTP(w, r)
	})
	r := httptest.NewRequest(http.MethodPost, "/ingest", onlyReader{strings.NewReader("123456")})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusRequestEntityTooLarge || w.Body.String() != "{\"error\":\"event too large\"}\n" {
		t.Fatalf("%d %q", w.Code, w.Body.String())
	}
}

// A body that fails mid-read is 400, not a stored partial event.
func TestHandlerBrokenBody(t *testing.T) {
	t.Parallel()
	s := &memSink{}
	b := newBatcher(t, s, Config{BatchSize: 1})
	r := httptest.NewRequest(http.MethodPost, "/ingest", io.MultiReader(strings.NewReader("part"), errReader{}))
	w := httptest.NewRecorder()
	Handler(b).ServeHTTP(w, r)
	if w.Code != http.StatusBadRequest || w.Body.String() != "{\"error\":\"could not read the request body\"}\n" {
		t.Fatalf("%d %q", w.Code, w.Body.String())
	}
	if _, stored, _ := s.snapshot(); len(stored) != 0 {
		t.Fatalf("stored %q from a broken body", stored)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

// nopSink stores nothing and answers at once, reusing its Position slice
// (the contract lets the batcher read it only until the next Append).
type nopSink struct {
	pos []Position
	n   int64
}

func (s *nopSink) Append(_ context.Context, events [][]byte) ([]Position, error) {
	s.pos = s.pos[:0]
	for range events {
		s.pos = append(s.pos, Position{Offset: s.n})
		s.n++
	}
	return s.pos, nil
}

func (*nopSink) Close() error { return nil }

// BenchmarkSubmit: parallel Submits against a sink that answers at once;
// the cost of the batcher itself (hand-off, batching, answering).
func BenchmarkSubmit(b *testing.B) {
	for _, size := range []int{1, 16} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			bt, err := New(&nopSink{}, Config{BatchSize: size, BatchWait: 100 * time.Microsecond, Queue: 4096})
			if err != nil {
				b.Fatal(err)
			}
			defer bt.Close(context.Background())
			event := make([]byte, 256)
			b.ReportAllocs()
			b.SetParallelism(32) // 32×GOMAXPROCS submitters: enough to fill batches
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					if _, err := bt.Submit(ctx, event); err != nil && !errors.Is(err, ErrQueueFull) {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkHandler: POST /ingest through net/http's handler core, without a
// network (httptest.ResponseRecorder), against a sink that answers at once.
func BenchmarkHandler(b *testing.B) {
	bt, err := New(&nopSink{}, Config{BatchSize: 16, BatchWait: 100 * time.Microsecond})
	if err != nil {
		b.Fatal(err)
	}
	defer bt.Close(context.Background())
	h := Handler(bt)
	body := strings.Repeat("x", 256)
	b.ReportAllocs()
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest(http.MethodPost, "/ingest", strings.NewReader(body))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != 202 && w.Code != 503 {
				b.Errorf("status %d", w.Code)
				return
			}
		}
	})
}
