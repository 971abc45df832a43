package fasthttpengine

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hotpath-dev/hotpath/ingest"
	"github.com/hotpath-dev/hotpath/internal/ingesttest"
	"github.com/hotpath-dev/hotpath/server"
)

// POST /ingest through the engine's chain: the answers of ingest.Handler
// (the conformance suite compares the engines over the wire; this is the
// handler alone, without sockets).
func TestIngestHandler(t *testing.T) {
	sink := &ingesttest.Sink{}
	b, err := ingest.New(sink, ingest.Config{MaxEventBytes: 8, BatchWait: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	s, err := New(server.Config{Addr: "127.0.0.1:0", AdminAddr: server.AdminOff, MaxBodyBytes: 16})
	if err != nil {
		t.Fatal(err)
	}
	RegisterIngest(s, b)
	defer s.Shutdown(context.Background())
	h := s.Handler()
	tests := []struct {
		name, method, body string
		status             int
		wantBody, retry    string
	}{
		{"stored", "POST", "hello", 202, `{"offset":0}` + "\n", ""},
		{"next offset", "POST", "world", 202, `{"offset":1}` + "\n", ""},
		{"empty", "POST", "", 400, `{"error":"empty event"}` + "\n", ""},
		{"over the event limit", "POST", "123456789", 413, `{"error":"event too large"}` + "\n", ""},
		{"over the body limit: the chain's 413", "POST", strings.Repeat("x", 17), 413, "", ""},
		{"GET is 405", "GET", "", 405, "", ""},
	}
	for _, tc := range tests {
		ctx := newCtx(tc.method, "/ingest", nil)
		ctx.Request.SetBodyString(tc.body)
		h(ctx)
		if got := ctx.Response.StatusCode(); got != tc.status {
			t.Errorf("%s: status %d, want %d (%q)", tc.name, got, tc.status, ctx.Response.Body())
			continue
		}
		if tc.wantBody != "" {
			if got := string(ctx.Response.Body()); got != tc.wantBody {
				t.Errorf("%s: body %q, want %q", tc.name, got, tc.wantBody)
			}
			if ct := string(ctx.Response.Header.ContentType()); ct != "application/json" {
				t.Errorf("%s: Content-Type %q", tc.name, ct)
			}
		}
	}
	if got := sink.Stored(); len(got) != 2 || string(got[0]) != "hello" || string(got[1]) != "world" {
		t.Errorf("stored %q", got)
	}
	// A closed batcher: 503 with Retry-After (shutting down, not stored).
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx := newCtx("POST", "/ingest", nil)
	ctx.Request.SetBodyString("late")
	h(ctx)
	if ctx.Response.StatusCode() != 503 || string(ctx.Response.Header.Peek("Retry-After")) != "1" {
		t.Errorf("closed: %d Retry-After %q", ctx.Response.StatusCode(), ctx.Response.Header.Peek("Retry-After"))
	}
}
