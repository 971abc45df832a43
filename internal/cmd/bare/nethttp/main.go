// Command nethttp is the bare net/http reference server: GET /time with the
// current Unix time in milliseconds (text/plain), on net/http's defaults, with
// no middleware, limits or admin listener. scripts/serve-cost.sh compares
// `hotpath serve` against it to price everything hotpath adds.
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"
)

var textPlain = []string{"text/plain; charset=utf-8"}

// timeHandler writes the time the way the seed's handler does, minus any
// framework: one small buffer, no formatting.
func timeHandler(w http.ResponseWriter, _ *http.Request) {
	var buf [24]byte
	w.Header()["Content-Type"] = textPlain
	_, _ = w.Write(strconv.AppendInt(buf[:0], time.Now().UnixMilli(), 10)) // client gone: nothing to do
}

func newMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /time", timeHandler)
	return mux
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	flag.Parse()
	if err := http.ListenAndServe(*addr, newMux()); err != nil {
		fmt.Fprintf(os.Stderr, "bare-nethttp: %v\n", err)
		os.Exit(1)
	}
}
