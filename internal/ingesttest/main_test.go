package ingesttest

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The fake does what its doc says: stores copies at offsets, fails on
// demand, blocks until Release or the context ends.
func TestSink(t *testing.T) {
	var s Sink
	ev := []byte("a")
	pos, err := s.Append(context.Background(), [][]byte{ev, []byte("b")})
	if err != nil || len(pos) != 2 || pos[1].Offset != 1 {
		t.Fatalf("Append: %v %v", pos, err)
	}
	ev[0] = 'z' // a copy was stored
	s.Fail(errors.New("down"))
	if _, err := s.Append(context.Background(), [][]byte{[]byte("c")}); err == nil {
		t.Error("failing sink stored")
	}
	s.Fail(nil)
	entered := s.Block()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := s.Append(ctx, [][]byte{[]byte("d")}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("blocked Append: %v", err)
	}
	<-entered
	done := make(chan error, 1)
	go func() { _, err := s.Append(context.Background(), [][]byte{[]byte("e")}); done <- err }()
	<-entered
	s.Release()
	if err := <-done; err != nil {
		t.Error(err)
	}
	if got := s.Stored(); len(got) != 3 || string(got[0]) != "a" || string(got[2]) != "e" {
		t.Errorf("Stored = %q", got)
	}
	if s.Close(); !s.Closed() {
		t.Error("not Closed")
	}
}
