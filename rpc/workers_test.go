package rpc

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	hotpathv1 "github.com/hotpath-dev/hotpath/proto/hotpath/v1"
)

// serverWorkers counts the goroutines in the stream worker loop of gs (the
// traceback prints the receiver), so workers of servers that other tests
// stopped, still exiting, are not counted.
func serverWorkers(gs *grpc.Server) int {
	frame := fmt.Sprintf("grpc.(*Server).serverWorker(%p", gs)
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), frame)
		}
		buf = make([]byte, 2*len(buf))
	}
}

// StreamWorkers reaches grpc-go: the default keeps DefaultStreamWorkers
// goroutines, a count keeps that many, a negative value none; calls work
// either way, and the workers end with the server (goleak checks at exit).
func TestStreamWorkers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		workers int
		want    int
	}{
		{"default", 0, DefaultStreamWorkers},
		{"four", 4, 4},
		{"off", -1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := start(t, Config{StreamWorkers: tc.workers}, false)
			// A worker that has not run yet shows no receiver: wait for all.
			got := serverWorkers(ts.srv.GRPC())
			for deadline := time.Now().Add(5 * time.Second); got < tc.want && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
				got = serverWorkers(ts.srv.GRPC())
			}
			if got != tc.want {
				t.Errorf("stream workers = %d, want %d", got, tc.want)
			}
			// More concurrent calls than workers: the overflow gets goroutines
			// of its own and every call completes.
			ctx := ctxT(t)
			client := hotpathv1.NewTimeServiceClient(ts.conn)
			errc := make(chan error, 3*DefaultStreamWorkers)
			for range cap(errc) {
				go func() {
					_, err := client.Now(ctx, &hotpathv1.NowRequest{})
					errc <- err
				}()
			}
			for range cap(errc) {
				if err := <-errc; err != nil {
					t.Fatalf("Now: %v", err)
				}
			}
		})
	}
}
