package rpc

import (
	"context"
	"errors"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	hotpathv1 "github.com/hotpath-dev/hotpath/proto/hotpath/v1"
)

// A bidirectional stream moving 100 MiB each way completes, and the process
// heap stays far below the volume moved: HTTP/2 flow control stops the
// sender instead of letting either side buffer the stream.
func TestBidiStream100MBBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 200 MiB through loopback")
	}
	const (
		msgSize  = 256 << 10
		messages = 400 // 100 MiB
		// Limit on heap growth while streaming; buffering the stream would
		// need 100 MiB or more. Windows (up to 16 MiB per connection with
		// grpc-go's BDP estimation) and in-flight messages fit well under it.
		maxGrowth = 64 << 20
	)
	ts := start(t, Config{}, false)
	// A generous bound, not a speed check: a busy shared machine moves 200 MiB slowly.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stream, err := hotpathv1.NewEchoServiceClient(ts.conn).EchoStream(ctx)
	if err != nil {
		t.Fatal(err)
	}

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // sample the heap while the stream runs
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()

	sendErr := make(chan error, 1)
	go func() {
		payload := make([]byte, msgSize)
		for i := range messages {
			payload[0] = byte(i)
			if err := stream.Send(&hotpathv1.EchoRequest{Data: payload}); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- stream.CloseSend()
	}()
	var got, total int
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Recv after %d messages: %v", got, err)
		}
		if len(m.GetData()) != msgSize || m.GetData()[0] != byte(got) {
			t.Fatalf("message %d: %d bytes, first %d", got, len(m.GetData()), m.GetData()[0])
		}
		got++
		total += len(m.GetData())
	}
	close(stop)
	wg.Wait()
	if err := <-sendErr; err != nil {
		t.Fatalf("send: %v", err)
	}
	if got != messages || total != messages*msgSize {
		t.Fatalf("received %d messages, %d bytes; want %d, %d", got, total, messages, messages*msgSize)
	}
	growth := int64(peak) - int64(base.HeapInuse)
	t.Logf("moved %d MiB each way; heap in use grew by at most %d MiB", total>>20, growth>>20)
	if growth > maxGrowth {
		t.Errorf("heap grew by %d MiB while streaming, limit %d MiB", growth>>20, maxGrowth>>20)
	}
}
