package server

import (
	"context"
	"net"
	"time"
)

// serveUntil is the Runtime's run loop, for every engine: it runs each serve
// function in its own goroutine until ctx ends or one of them returns, then
// calls shutdown with a background context, waits for every serve function
// to return, and returns the first serve error, else shutdown's error. Each
// serve function must return once shutdown has closed its listener. With no
// serve functions it waits for ctx alone.
func serveUntil(ctx context.Context, shutdown func(context.Context) error, serves ...func() error) error {
	errc := make(chan error, len(serves))
	for _, serve := range serves {
		go func() { errc <- serve() }()
	}
	running := len(serves)
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
		running--
	}
	err := shutdown(context.Background())
	for ; running > 0; running-- {
		if e := <-errc; serveErr == nil {
			serveErr = e
		}
	}
	if serveErr != nil {
		return serveErr
	}
	return err
}

// drainDelay waits d (Config.DrainDelay: the time load balancers need to see
// readiness turn 503) or until ctx ends, whichever comes first; d <= 0
// returns at once.
func drainDelay(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// listenPublic binds the public TCP address (failing with a *ListenError
// named "public") and then admin's listener, if admin is not nil; when the
// admin address cannot be bound the public listener is closed again, so a
// failed Listen leaves nothing bound. Runtime.Listen starts with it.
func listenPublic(addr string, admin *Admin) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, &ListenError{Name: "public", Addr: addr, Err: err}
	}
	if admin != nil {
		if err := admin.Listen(); err != nil {
			ln.Close()
			return nil, err
		}
	}
	return ln, nil
}
