package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	hotpathv1 "github.com/hotpath-dev/hotpath/proto/hotpath/v1"
)

func TestBareTimeNow(t *testing.T) {
	before := time.Now().UnixMilli()
	resp, err := bareTime{}.Now(context.Background(), &hotpathv1.NowRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetUnixMs() < before || resp.GetUnixMs() > time.Now().UnixMilli() {
		t.Errorf("Now = %d, not within the call", resp.GetUnixMs())
	}
}

func TestRunRejectsUnknownMode(t *testing.T) {
	err := run("127.0.0.1:0", "fast", 0)
	if err == nil || !strings.Contains(err.Error(), "-mode") {
		t.Fatalf("run with mode fast: %v", err)
	}
}

// The binary's modes are exercised end to end by scripts/grpc-cost.sh; here
// a quick check that the bare server answers a real client.
func TestBareServerAnswers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	hotpathv1.RegisterTimeServiceServer(gs, bareTime{})
	done := make(chan error, 1)
	go func() { done <- gs.Serve(ln) }()
	defer func() { gs.Stop(); <-done }()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := hotpathv1.NewTimeServiceClient(conn).Now(ctx, &hotpathv1.NowRequest{}); err != nil {
		t.Fatal(err)
	}
}

func TestPrintAllocsOnSignal(t *testing.T) {
	var buf syncBuffer
	stop := printAllocsOn(&buf, syscall.SIGUSR1)
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.HasPrefix(buf.String(), "allocs ") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	var mallocs, bytes uint64
	if _, err := fmt.Sscanf(buf.String(), "allocs %d %d\n", &mallocs, &bytes); err != nil || mallocs == 0 || bytes == 0 {
		t.Fatalf("output %q: %v", buf.String(), err)
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
