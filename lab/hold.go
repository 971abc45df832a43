package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// errNoKeepAlive is returned by holdConns when the server closes the
// connection after one response (gunicorn's sync workers do): it holds no
// idle keep-alive connections to measure.
var errNoKeepAlive = errors.New("the server closes the connection after each response (no idle keep-alive connections to hold)")

// holdConns opens n connections to addr, par at a time, completes one
// GET /time on each and returns them open and idle. On error the
// connections opened so far are closed.
func holdConns(ctx context.Context, addr string, n, par int) ([]net.Conn, error) {
	req := []byte("GET /time HTTP/1.1\r\nHost: " + addr + "\r\n\r\n")
	var (
		mu    sync.Mutex
		conns = make([]net.Conn, 0, n)
		first error
		wg    sync.WaitGroup
	)
	sem := make(chan struct{}, par)
	for i := 0; i < n && ctx.Err() == nil; i++ {
		mu.Lock()
		failed := first != nil
		mu.Unlock()
		if failed {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := holdOne(ctx, addr, req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if first == nil {
					first = err
				}
				return
			}
			conns = append(conns, c)
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	if first != nil {
		closeConns(conns)
		return nil, first
	}
	return conns, nil
}

// holdOne dials addr, writes req and reads one complete response.
func holdOne(ctx context.Context, addr string, req []byte) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fail := func(err error) (net.Conn, error) { c.Close(); return nil, err }
	if _, err := c.Write(req); err != nil {
		return fail(fmt.Errorf("write request to %s: %w", addr, err))
	}
	res, err := http.ReadResponse(bufio.NewReaderSize(c, 512), nil)
	if err != nil {
		return fail(fmt.Errorf("read response from %s: %w", addr, err))
	}
	_, err = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	switch {
	case err != nil:
		return fail(fmt.Errorf("read response body from %s: %w", addr, err))
	case res.StatusCode != http.StatusOK:
		return fail(fmt.Errorf("%s answered %d, want 200", addr, res.StatusCode))
	case res.Close:
		return fail(errNoKeepAlive)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

func closeConns(conns []net.Conn) {
	for _, c := range conns {
		_ = c.Close()
	}
}
