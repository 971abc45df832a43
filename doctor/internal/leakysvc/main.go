// Command leakysvc is a deliberately faulty HTTP service for trying
// `hotpath doctor` by hand: it mounts net/http/pprof and serves endpoints that
// leak goroutines, pile up on a lock, burn CPU or allocate heavily. It is a
// demonstration target, not part of the hotpath binary; see docs/doctor.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:6061", "listen address (keep it on loopback)")
	mutexFraction := flag.Int("mutex-fraction", 0, "runtime.SetMutexProfileFraction value; 0 leaves the mutex profile off")
	flag.Parse()
	runtime.SetMutexProfileFraction(*mutexFraction)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, *addr); err != nil {
		fmt.Fprintln(os.Stderr, "leakysvc:", err)
		os.Exit(1)
	}
}

func serve(ctx context.Context, addr string) error {
	s := newService()
	srv := &http.Server{Addr: addr, Handler: s.mux(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		s.release()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// service holds the faults; release ends every leaked goroutine.
type service struct {
	done    chan struct{}
	once    sync.Once
	pool    sync.Mutex // locked forever: the "connection pool" ran dry
	hot     sync.Mutex
	sink    atomic.Pointer[[]byte]
	counter uint64
}

func newService() *service {
	s := &service{done: make(chan struct{})}
	s.pool.Lock()
	return s
}

func (s *service) release() {
	s.once.Do(func() {
		close(s.done)
		s.pool.Unlock()
	})
}

func (s *service) mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("/leak", s.leakHandler)
	mux.HandleFunc("/stuck", s.stuckHandler)
	mux.HandleFunc("/burn", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, burn(300_000)) })
	mux.HandleFunc("/alloc", func(w http.ResponseWriter, _ *http.Request) { s.allocate(); io.WriteString(w, "ok\n") })
	mux.HandleFunc("/contend", func(w http.ResponseWriter, _ *http.Request) { s.contend(); io.WriteString(w, "ok\n") })
	return mux
}

// leakHandler starts a goroutine per request that waits on a channel nobody
// sends on: the "range over a channel nobody closes" leak.
func (s *service) leakHandler(w http.ResponseWriter, _ *http.Request) {
	results := make(chan int)
	go waitForResult(results, s.done)
	io.WriteString(w, "ok\n")
}

func waitForResult(results <-chan int, done <-chan struct{}) {
	select {
	case <-results:
	case <-done:
	}
}

// stuckHandler waits for a lock that is never released, like requests
// waiting for a connection from a pool that ran dry.
func (s *service) stuckHandler(w http.ResponseWriter, _ *http.Request) {
	s.pool.Lock()
	defer s.pool.Unlock()
	io.WriteString(w, "ok\n")
}

func burn(n int) uint64 {
	x := uint64(88172645463325252)
	for range n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

func (s *service) allocate() {
	for range 16 {
		b := make([]byte, 32<<10)
		s.sink.Store(&b)
	}
}

func (s *service) contend() {
	s.hot.Lock()
	s.counter += burn(20_000)
	s.hot.Unlock()
}
