package server

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

func TestServeUntil(t *testing.T) {
	errServe, errShut := errors.New("serve failed"), errors.New("shutdown failed")
	tests := []struct {
		name     string
		cancel   bool  // end ctx (else the first serve returns on its own)
		firstErr error // what the first serve returns when it returns on its own
		shutErr  error
		want     error
	}{
		{"ctx ends, clean shutdown", true, nil, nil, nil},
		{"ctx ends, shutdown fails", true, nil, errShut, errShut},
		{"a serve fails: its error wins over shutdown's", false, errServe, errShut, errServe},
		{"a serve returns nil early: shutdown still runs", false, nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stop := make(chan struct{}) // closed by shutdown: ends the serves
			first := make(chan struct{})
			shutdowns := 0
			shutdown := func(context.Context) error { shutdowns++; close(stop); return tt.shutErr }
			serveA := func() error {
				if !tt.cancel {
					<-first
					return tt.firstErr
				}
				<-stop
				return nil
			}
			serveB := func() error { <-stop; return nil }
			done := make(chan error, 1)
			go func() { done <- serveUntil(ctx, shutdown, serveA, serveB) }()
			if tt.cancel {
				cancel()
			} else {
				close(first)
			}
			select {
			case err := <-done:
				if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
					t.Errorf("serveUntil = %v, want %v", err, tt.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("serveUntil did not return")
			}
			if shutdowns != 1 {
				t.Errorf("shutdown ran %d times, want 1", shutdowns)
			}
		})
	}
}

func TestServeUntilNoServes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveUntil(ctx, func(context.Context) error { return nil }) }()
	select {
	case <-done:
		t.Fatal("returned before ctx ended")
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestDrainDelayEndsWithCtx(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan struct{})
	go func() { drainDelay(ctx, time.Hour); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("DrainDelay did not return when ctx ended")
	}
	drainDelay(context.Background(), 0) // returns at once
}

// TestListenPublic: a busy public address is a *ListenError; a busy admin
// address leaves the public address unbound again.
func TestListenPublic(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	_, err = listenPublic(busy.Addr().String(), nil)
	var le *ListenError
	if !errors.As(err, &le) || le.Name != "public" {
		t.Fatalf("busy public address: %v, want a *ListenError named public", err)
	}

	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	publicAddr := free.Addr().String()
	free.Close()
	admin, err := NewAdmin(Config{AdminAddr: busy.Addr().String()}, NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := listenPublic(publicAddr, admin); err == nil {
		t.Fatal("busy admin address: listenPublic succeeded")
	}
	ln, err := net.Listen("tcp", publicAddr)
	if err != nil {
		t.Fatalf("public address still bound after the admin bind failed: %v", err)
	}
	ln.Close()
}
