package rpc

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/hotpath-dev/hotpath/ingest"
	"github.com/hotpath-dev/hotpath/internal/ingesttest"
	hotpathv1 "github.com/hotpath-dev/hotpath/proto/hotpath/v1"
)

// newBatcher is a Batcher on sink for one test, closed at cleanup.
func newBatcher(t *testing.T, sink ingest.Sink, cfg ingest.Config) *ingest.Batcher {
	t.Helper()
	b, err := ingest.New(sink, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := b.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

// Ingest answers with the event's position once stored, and maps every
// refusal to the code the proto documents.
func TestIngestCodes(t *testing.T) {
	sink := &ingesttest.Sink{}
	b := newBatcher(t, sink, ingest.Config{BatchSize: 1, Queue: 1, MaxEventBytes: 8, BatchWait: time.Millisecond})
	ts := start(t, Config{Ingest: b}, false)
	c := hotpathv1.NewIngestServiceClient(ts.conn)

	for i, ev := range []string{"first", "second"} {
		resp, err := c.Ingest(ctxT(t), &hotpathv1.IngestRequest{Event: []byte(ev)})
		if err != nil {
			t.Fatalf("Ingest(%q): %v", ev, err)
		}
		if resp.GetOffset() != int64(i) || resp.GetPartition() != 0 {
			t.Errorf("Ingest(%q) = offset %d partition %d, want %d 0", ev, resp.GetOffset(), resp.GetPartition(), i)
		}
	}
	if got := sink.Stored(); len(got) != 2 || string(got[0]) != "first" || string(got[1]) != "second" {
		t.Errorf("stored %q", got)
	}

	cases := []struct {
		name    string
		event   string
		setup   func() func() // returns its undo
		timeout time.Duration
		code    codes.Code
		msg     string // substring of the status message
	}{
		{"empty event is the client's mistake", "", nil, 0, codes.InvalidArgument, "empty"},
		{"too large names the limit", "123456789", nil, 0, codes.InvalidArgument, "limit of 8 bytes"},
		{"call deadline is the call's code", "x", func() func() {
			sink.Block()
			return sink.Release
		}, 100 * time.Millisecond, codes.DeadlineExceeded, ""},
		// Last: a failure starts the batcher's back-off (refusals without a try).
		{"failing sink is retryable", "x", func() func() {
			sink.Fail(errors.New("disk on fire"))
			return func() { sink.Fail(nil) }
		}, 0, codes.Unavailable, "sink unavailable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				defer tc.setup()()
			}
			ctx := ctxT(t)
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			_, err := c.Ingest(ctx, &hotpathv1.IngestRequest{Event: []byte(tc.event)})
			st := status.Convert(err)
			if st.Code() != tc.code || !strings.Contains(st.Message(), tc.msg) {
				t.Errorf("got %v %q, want %v with %q", st.Code(), st.Message(), tc.code, tc.msg)
			}
			if strings.Contains(st.Message(), "fire") {
				t.Errorf("message %q leaks the sink's error", st.Message())
			}
		})
	}
}

// A full queue is UNAVAILABLE at once, not a wait.
func TestIngestQueueFull(t *testing.T) {
	sink := &ingesttest.Sink{}
	entered := sink.Block()
	defer sink.Release()
	b := newBatcher(t, sink, ingest.Config{BatchSize: 1, Queue: 1, BatchWait: time.Millisecond})
	ts := start(t, Config{Ingest: b}, false)
	c := hotpathv1.NewIngestServiceClient(ts.conn)
	first := make(chan error, 1)
	go func() {
		_, err := c.Ingest(ctxT(t), &hotpathv1.IngestRequest{Event: []byte("held")})
		first <- err
	}()
	<-entered // the first event is in the sink's Append: the queue is full
	_, err := c.Ingest(ctxT(t), &hotpathv1.IngestRequest{Event: []byte("more")})
	if st := status.Convert(err); st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "queue full") {
		t.Errorf("second event: %v %q, want UNAVAILABLE queue full", st.Code(), st.Message())
	}
	sink.Release()
	if err := <-first; err != nil {
		t.Errorf("held event: %v", err)
	}
}

// After the batcher closes, calls are UNAVAILABLE (retry on another replica).
func TestIngestClosed(t *testing.T) {
	b, err := ingest.New(&ingesttest.Sink{}, ingest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ts := start(t, Config{Ingest: b}, false)
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, err = hotpathv1.NewIngestServiceClient(ts.conn).Ingest(ctxT(t), &hotpathv1.IngestRequest{Event: []byte("late")})
	if st := status.Convert(err); st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "shutting down") {
		t.Errorf("got %v %q, want UNAVAILABLE shutting down", st.Code(), st.Message())
	}
}

// Without a batcher the service does not exist, on gRPC and the gateway.
func TestIngestNotRegistered(t *testing.T) {
	ts := start(t, Config{}, false)
	_, err := hotpathv1.NewIngestServiceClient(ts.conn).Ingest(ctxT(t), &hotpathv1.IngestRequest{Event: []byte("x")})
	if st := status.Convert(err); st.Code() != codes.Unimplemented {
		t.Errorf("gRPC: %v, want UNIMPLEMENTED", st.Code())
	}
	if resp, body := doHTTP(t, http.MethodPost, ts.http+"/v1/ingest", "application/json", `{"event":"eA=="}`, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("gateway: %d %s, want 404", resp.StatusCode, body)
	}
}

// The gateway route: base64 in, the position out (int64 as a string, proto3
// JSON), refusals mapped to HTTP statuses, and the interceptors (auth) in
// front as for every method.
func TestIngestGateway(t *testing.T) {
	sink := &ingesttest.Sink{}
	b := newBatcher(t, sink, ingest.Config{MaxEventBytes: 8, BatchWait: time.Millisecond})
	ts := start(t, Config{Ingest: b, AuthToken: "tok"}, false)
	auth := map[string]string{"Authorization": "Bearer tok"}
	cases := []struct {
		name, body string
		hdr        map[string]string
		wantHTTP   int
		wantBody   string
	}{
		{"stored", `{"event":"aGVsbG8="}`, auth, 200, `"offset":"0"`},
		{"next offset", `{"event":"d29ybGQ="}`, auth, 200, `"offset":"1"`},
		{"empty event", `{}`, auth, 400, "empty"},
		{"too large", `{"event":"MTIzNDU2Nzg5"}`, auth, 400, "limit of 8 bytes"},
		{"not base64", `{"event":"***"}`, auth, 400, ""},
		{"no token", `{"event":"eA=="}`, nil, 401, ""},
	}
	for _, tc := range cases {
		resp, body := doHTTP(t, http.MethodPost, ts.http+"/v1/ingest", "application/json", tc.body, tc.hdr)
		if resp.StatusCode != tc.wantHTTP || !strings.Contains(string(body), tc.wantBody) {
			t.Errorf("%s: %d %s, want %d with %s", tc.name, resp.StatusCode, body, tc.wantHTTP, tc.wantBody)
		}
	}
	if got := sink.Stored(); len(got) != 2 || string(got[0]) != "hello" || string(got[1]) != "world" {
		t.Errorf("stored %q", got)
	}
	// gRPC and the gateway share the one batcher: gRPC's event comes next.
	resp, err := hotpathv1.NewIngestServiceClient(ts.conn).Ingest(
		metadata.AppendToOutgoingContext(ctxT(t), "authorization", "Bearer tok"), &hotpathv1.IngestRequest{Event: []byte("grpc")})
	if err != nil || resp.GetOffset() != 2 {
		t.Errorf("gRPC after the gateway: %v, %v; want offset 2", resp, err)
	}
}

// With --ingest-format json (ingest.FormatJSON), gRPC and the gateway
// store the compacted event and refuse one that is not one JSON value with
// INVALID_ARGUMENT (HTTP 400 on the gateway), naming the flag.
func TestIngestJSONFormat(t *testing.T) {
	sink := &ingesttest.Sink{}
	b := newBatcher(t, sink, ingest.Config{Format: ingest.FormatJSON, BatchWait: time.Millisecond})
	ts := start(t, Config{Ingest: b}, false)
	c := hotpathv1.NewIngestServiceClient(ts.conn)
	if _, err := c.Ingest(ctxT(t), &hotpathv1.IngestRequest{Event: []byte(" { \"a\" : [1, 2] }\n")}); err != nil {
		t.Fatalf("Ingest of JSON: %v", err)
	}
	_, err := c.Ingest(ctxT(t), &hotpathv1.IngestRequest{Event: []byte(`{"a":1} {"b":2}`)})
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "not one JSON value") || !strings.Contains(st.Message(), "--ingest-format json") {
		t.Errorf("Ingest of two JSON values: %v, want INVALID_ARGUMENT naming the format", err)
	}
	// " [1, 2] " and "{nope" in base64.
	resp, body := doHTTP(t, http.MethodPost, ts.http+"/v1/ingest", "application/json", `{"event":"IFsxLCAyXSA="}`, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"offset":"1"`) {
		t.Errorf("gateway, JSON event: %d %s", resp.StatusCode, body)
	}
	resp, body = doHTTP(t, http.MethodPost, ts.http+"/v1/ingest", "application/json", `{"event":"e25vcGU="}`, nil)
	if resp.StatusCode != 400 || !strings.Contains(string(body), "not one JSON value") {
		t.Errorf("gateway, not JSON: %d %s, want 400", resp.StatusCode, body)
	}
	if got := sink.Stored(); len(got) != 2 || string(got[0]) != `{"a":[1,2]}` || string(got[1]) != `[1,2]` {
		t.Errorf("stored %q, want the two events compacted", got)
	}
}
