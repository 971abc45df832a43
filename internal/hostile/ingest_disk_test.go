package hostile

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hotpath-dev/hotpath/ingest"
)

// TestIngestDiskFailure: `hotpath serve --ingest-sink file:DIR` whose
// writes fail (RLIMIT_FSIZE of the running process lowered to 0 with
// prlimit(2): every write to a regular file fails with EFBIG, as on a full
// disk; a read-only directory or a full tmpfs cannot be made here) answers
// 503, and /readyz and gRPC health turn not ready; once the limit is
// lifted, with no request in between, both turn ready again by themselves
// (the file log's Ping), and the next event is stored after the first.
func TestIngestDiskFailure(t *testing.T) {
	dir := t.TempDir()
	p := startServe(t, nil, "--ingest-sink", "file:"+dir, "--ingest-unready-after", "200ms")
	pid := p.cmd.Process.Pid
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	post := func(ev string) (int, ingest.Position) {
		t.Helper()
		resp, err := c.Post("http://"+p.addr+"/ingest", "text/plain", bytes.NewReader([]byte(ev)))
		if err != nil {
			t.Fatalf("POST /ingest: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var pos ingest.Position
		if resp.StatusCode == http.StatusAccepted {
			if err := json.Unmarshal(b, &pos); err != nil {
				t.Fatalf("202 body %q: %v", b, err)
			}
		}
		return resp.StatusCode, pos
	}
	conn, err := grpc.NewClient(p.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	health := func() healthpb.HealthCheckResponse_ServingStatus {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatalf("health Check: %v", err)
		}
		return resp.GetStatus()
	}
	// within polls cond every 20 ms for at most d, counting on no request
	// but its own probes.
	within := func(d time.Duration, what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !cond() {
			p.alive(t)
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %v; output:\n%s", what, d, p.stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	if s, pos := post("before"); s != http.StatusAccepted || pos.Offset != 0 {
		t.Fatalf("POST before the failure: %d offset %d", s, pos.Offset)
	}
	var old unix.Rlimit
	if err := unix.Prlimit(pid, unix.RLIMIT_FSIZE, &unix.Rlimit{Cur: 0, Max: unix.RLIM_INFINITY}, &old); err != nil {
		t.Fatalf("prlimit RLIMIT_FSIZE=0 on the server: %v", err)
	}
	if s, _ := post("during"); s != http.StatusServiceUnavailable {
		t.Fatalf("POST while writes fail: %d, want 503", s)
	}
	within(5*time.Second, "/readyz 503 while writes fail", func() bool {
		code, err := p.get("/readyz")
		return err == nil && code == http.StatusServiceUnavailable
	})
	within(5*time.Second, "gRPC health NOT_SERVING while writes fail", func() bool {
		return health() == healthpb.HealthCheckResponse_NOT_SERVING
	})
	// It stays so while the cause lasts (the pings fail): 1.5 s is past
	// the back-off's first steps.
	time.Sleep(1500 * time.Millisecond)
	if code, err := p.get("/readyz"); err != nil || code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz %d, %v while writes still fail, want 503", code, err)
	}
	if err := unix.Prlimit(pid, unix.RLIMIT_FSIZE, &old, nil); err != nil {
		t.Fatalf("prlimit: restoring RLIMIT_FSIZE: %v", err)
	}
	// No POST from here until ready: only the server's pings can tell.
	within(5*time.Second, "/readyz 200 without traffic once writes work", func() bool {
		code, err := p.get("/readyz")
		return err == nil && code == http.StatusOK
	})
	within(5*time.Second, "gRPC health SERVING once writes work", func() bool {
		return health() == healthpb.HealthCheckResponse_SERVING
	})
	if s, pos := post("after"); s != http.StatusAccepted || pos.Offset != 1 {
		t.Fatalf("POST after recovery: %d offset %d, want 202 offset 1", s, pos.Offset)
	}
	if err := p.stop(t); err != nil {
		t.Fatalf("SIGTERM: exit %v; output:\n%s", err, p.stderr.String())
	}
	checkLog(t, dir, map[int64][]byte{0: []byte("before"), 1: []byte("after")}, "after the disk failure")
	p.noPanic(t)
}
