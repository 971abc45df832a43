package rpc

import (
	"runtime"
	"strings"
	"testing"

	hotpathv1 "github.com/hotpath-dev/hotpath/proto/hotpath/v1"
)

// serverWorkers counts the goroutines parked in grpc-go's stream worker loop.
func serverWorkers() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "grpc.(*Server).serverWorker(")
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
			before := serverWorkers()
			ts := start(t, Config{StreamWorkers: tc.workers}, false)
			if got := serverWorkers() - before; got != tc.want {
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
