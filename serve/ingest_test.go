package serve

import (
	"io"
	"log/slog"
	"testing"

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
