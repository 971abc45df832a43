package serve_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/hotpath-dev/hotpath/ingest"
	"github.com/hotpath-dev/hotpath/ingest/sinkuri"
	"github.com/hotpath-dev/hotpath/serve"
	"github.com/hotpath-dev/hotpath/server"
)

// POST /ingest on the embedded file log: an event is acknowledged with its
// offset once it is fsynced, and is in the log after a clean shutdown.
func Example_ingest() {
	dir, err := os.MkdirTemp("", "hotpath-ingest-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	cfg := server.Config{Addr: "127.0.0.1:0", AdminAddr: server.AdminOff, IngestSink: "file:" + dir}
	s, err := serve.New(cfg, serve.Options{Engine: "fasthttp"})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := s.Listen(); err != nil {
		fmt.Println(err)
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	c := &http.Client{Timeout: 5 * time.Second}
	for _, event := range []string{"first", "second", ""} {
		resp, err := c.Post("http://"+s.Addr().String()+"/ingest", "text/plain", strings.NewReader(event))
		if err != nil {
			fmt.Println(err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Print(resp.StatusCode, " ", string(body))
	}
	stop()
	fmt.Println("run:", <-done) // the queue is flushed and the log closed

	_ = sinkuri.Read(context.Background(), "file:"+dir, 0, func(p ingest.Position, v []byte) error {
		fmt.Printf("offset %d: %s\n", p.Offset, v)
		return nil
	})
	// Output:
	// 202 {"offset":0}
	// 202 {"offset":1}
	// 400 {"error":"empty event"}
	// run: <nil>
	// offset 0: first
	// offset 1: second
}
