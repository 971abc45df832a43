package serve

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/hotpath-dev/hotpath/ingest"
	"github.com/hotpath-dev/hotpath/internal/conformance"
	"github.com/hotpath-dev/hotpath/server"
)

// POST /ingest behaves the same on every engine, alone and on the port
// shared with gRPC: the ingest share of the conformance suite, run through
// serve.New (the wiring `hotpath serve` uses).
func TestIngestConformance(t *testing.T) {
	type variant struct {
		engine string
		grpc   bool
	}
	var vs []variant
	for _, e := range Engines() {
		vs = append(vs, variant{e, false})
	}
	for _, e := range GRPCEngines() {
		vs = append(vs, variant{e, true})
	}
	for _, v := range vs {
		name := v.engine
		if v.grpc {
			name += "+grpc"
		}
		t.Run(name, func(t *testing.T) {
			conformance.RunIngest(t, func(cfg server.Config, sink ingest.Sink) (server.Engine, error) {
				return New(cfg, Options{Engine: v.engine, GRPC: v.grpc, IngestSink: sink, Log: slog.New(slog.DiscardHandler), AccessLog: io.Discard})
			})
		})
	}
}

// closeBound leaves the transport time to see the 503s out: half the
// shutdown timeout, at most a second.
func TestCloseBound(t *testing.T) {
	for _, tc := range []struct{ timeout, want time.Duration }{
		{20 * time.Second, 19 * time.Second},
		{2 * time.Second, time.Second},
		{time.Second, 500 * time.Millisecond},
		{100 * time.Millisecond, 50 * time.Millisecond},
	} {
		if got := closeBound(tc.timeout); got != tc.want {
			t.Errorf("closeBound(%v) = %v, want %v", tc.timeout, got, tc.want)
		}
	}
}
