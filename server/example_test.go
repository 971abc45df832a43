package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/hotpath-dev/hotpath/server"
)

// Mount your own handler behind hotpath's middleware chain and limits,
// serve it on an ephemeral port, call it and shut down gracefully.
func Example() {
	s, err := server.New(server.Config{Addr: "127.0.0.1:0", AdminAddr: server.AdminOff})
	if err != nil {
		fmt.Println(err)
		return
	}
	s.Handle("GET /hello/{name}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello, %s\n", r.PathValue("name"))
	}))
	if err := s.Listen(); err != nil {
		fmt.Println(err)
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	tr := &http.Transport{}
	resp, err := (&http.Client{Transport: tr}).Get("http://" + s.Addr().String() + "/hello/gopher")
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	tr.CloseIdleConnections()
	fmt.Print(resp.StatusCode, " ", string(body))

	stop()
	fmt.Println("run:", <-done)
	// Output:
	// 200 hello, gopher
	// run: <nil>
}
