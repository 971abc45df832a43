// Command connhold opens many HTTP/1.1 keep-alive connections to one server,
// completes one request on each, and then holds them idle until it is
// signalled. scripts/conn-memory.sh uses it to measure how much resident
// memory a server spends per idle keep-alive connection.
//
// It prints "ready N" on stdout once N connections have each received a
// complete response, and exits 1 if any connection fails.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("connhold", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "server address (host:port)")
	n := fs.Int("n", 10000, "connections to open and hold")
	path := fs.String("path", "/time", "request path sent once on each connection")
	par := fs.Int("parallel", 64, "connections being opened at the same time")
	timeout := fs.Duration("timeout", 10*time.Second, "dial + request timeout per connection")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *n < 1 || *par < 1 {
		fmt.Fprintln(stderr, "connhold: -n and -parallel must be at least 1")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	conns, err := open(ctx, *addr, *path, *n, *par, *timeout)
	defer closeAll(conns)
	if err != nil {
		fmt.Fprintf(stderr, "connhold: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "ready %d\n", len(conns))
	<-ctx.Done()
	return 0
}

// open dials n connections to addr with at most par dials in flight, sends
// one GET path on each and reads the whole response. The connections are
// returned open; on error the ones opened so far are returned with it.
func open(ctx context.Context, addr, path string, n, par int, timeout time.Duration) ([]net.Conn, error) {
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\n\r\n")
	var (
		mu    sync.Mutex
		conns = make([]net.Conn, 0, n)
		first error
		wg    sync.WaitGroup
	)
	sem := make(chan struct{}, par)
	for i := 0; i < n; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return conns, ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := one(ctx, addr, req, timeout)
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
	return conns, first
}

// one dials addr, writes req and reads one complete response.
func one(ctx context.Context, addr string, req []byte, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write(req); err != nil {
		c.Close()
		return nil, fmt.Errorf("write request to %s: %w", addr, err)
	}
	res, err := http.ReadResponse(bufio.NewReaderSize(c, 512), nil)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("read response from %s: %w", addr, err)
	}
	_, err = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("read response body from %s: %w", addr, err)
	}
	if res.StatusCode != http.StatusOK {
		c.Close()
		return nil, fmt.Errorf("%s answered %d, want 200", addr, res.StatusCode)
	}
	if res.Close {
		c.Close()
		return nil, errors.New("server closed the keep-alive connection after one request")
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		_ = c.Close()
	}
}
