package serve

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hotpath-dev/hotpath/internal/ingesttest"
	"github.com/hotpath-dev/hotpath/server"
)

// TestGRPCHealthFollowsIngest: gRPC health answers what /readyz answers.
// A sink that keeps failing turns both to not ready (NOT_SERVING, 503),
// and both come back once it stores again, on both gRPC engines.
func TestGRPCHealthFollowsIngest(t *testing.T) {
	for _, engine := range GRPCEngines() {
		t.Run(engine, func(t *testing.T) {
			sink := &ingesttest.Sink{}
			base, e, _ := runServe(t, server.Config{IngestUnreadyAfter: 100 * time.Millisecond},
				Options{Engine: engine, GRPC: true, IngestSink: sink})
			conn, err := grpc.NewClient(e.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			hc := healthpb.NewHealthClient(conn)
			health := func(svc string) healthpb.HealthCheckResponse_ServingStatus {
				ctx, cancel := context.WithTimeout(context.Background(), bound)
				defer cancel()
				resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
				if err != nil {
					t.Fatalf("Check(%q): %v", svc, err)
				}
				return resp.GetStatus()
			}
			if s := health(""); s != healthpb.HealthCheckResponse_SERVING {
				t.Fatalf("health at start: %v", s)
			}
			sink.Fail(errors.New("disk full"))
			if s, _, _ := postEvent(t, base, "during"); s != http.StatusServiceUnavailable {
				t.Fatalf("POST while the sink fails: %d, want 503", s)
			}
			for _, svc := range []string{"", "hotpath.v1.IngestService"} {
				waitFor(t, "NOT_SERVING for "+svc+" while the sink fails", func() bool {
					return health(svc) == healthpb.HealthCheckResponse_NOT_SERVING
				})
			}
			if c := readyz(base); c != http.StatusServiceUnavailable {
				t.Errorf("/readyz %d while gRPC health is NOT_SERVING, want 503", c)
			}
			sink.Fail(nil)
			waitFor(t, "a 202 once the sink stores again", func() bool {
				s, _, _ := postEvent(t, base, "after")
				return s == http.StatusAccepted
			})
			for _, svc := range []string{"", "hotpath.v1.IngestService"} {
				waitFor(t, "SERVING for "+svc+" once the sink is back", func() bool {
					return health(svc) == healthpb.HealthCheckResponse_SERVING
				})
			}
			if c := readyz(base); c != http.StatusOK {
				t.Errorf("/readyz %d while gRPC health is SERVING, want 200", c)
			}
		})
	}
}
