package rpc

import (
	"sync"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// readyPoll is how often a Server with Config.Ready checks it.
const readyPoll = 250 * time.Millisecond

// healthState is what grpc.health.v1 reports for the Server's services:
// SERVING while SetServing's flag is on and Config.Ready (when set)
// returns true.
type healthState struct {
	mu      sync.Mutex
	serving bool                                       // SetServing's flag
	shown   healthpb.HealthCheckResponse_ServingStatus // last status set on s.health
	set     bool                                       // shown has been set once

	start sync.Once     // starts the watcher
	stop  chan struct{} // closed to end the watcher
	once  sync.Once     // closes stop
	done  chan struct{} // closed when the watcher has exited (or never started)
}

// SetServing sets the grpc.health.v1 status of the server ("") and of every
// hotpath service to SERVING (true) or NOT_SERVING (false), e.g. false when
// draining begins. With Config.Ready, SERVING is reported only while Ready
// also returns true. Watchers are notified of every change.
func (s *Server) SetServing(serving bool) {
	h := &s.hs
	h.mu.Lock()
	defer h.mu.Unlock()
	h.serving = serving
	s.showHealth()
}

// showHealth sets the status health reports, if it changed. hs.mu is held.
func (s *Server) showHealth() {
	h := &s.hs
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if h.serving && (s.cfg.Ready == nil || s.cfg.Ready()) {
		st = healthpb.HealthCheckResponse_SERVING
	}
	if h.set && st == h.shown {
		return
	}
	h.shown, h.set = st, true
	for _, n := range s.names {
		s.health.SetServingStatus(n, st)
	}
}

// watchReady starts, once, the goroutine that makes health follow
// Config.Ready (checked every readyPoll), until stopWatch. Serve and
// ServeHTTP call it; without Config.Ready it does nothing.
func (s *Server) watchReady() {
	h := &s.hs
	h.start.Do(func() {
		if s.cfg.Ready == nil {
			close(h.done)
			return
		}
		go func() {
			defer close(h.done)
			t := time.NewTicker(readyPoll)
			defer t.Stop()
			for {
				select {
				case <-h.stop:
					return
				case <-t.C:
					h.mu.Lock()
					s.showHealth()
					h.mu.Unlock()
				}
			}
		}()
	})
}

// stopWatch ends the watcher, if it runs, and waits for it.
func (s *Server) stopWatch() {
	h := &s.hs
	h.start.Do(func() { close(h.done) }) // never started: it never will
	h.once.Do(func() { close(h.stop) })
	<-h.done
}
