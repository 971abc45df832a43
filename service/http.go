package service

import (
	"errors"
	"io"
	"net/http"
	"time"
)

// Route is one endpoint: a net/http ServeMux pattern ("GET /time") and its
// handler. "GET" patterns also answer HEAD; other methods get 405 with Allow.
type Route struct {
	Pattern string
	Handler http.Handler
}

// Routes returns the seed's demo endpoints (/time, /json, /echo, /delay) in
// a fixed order. The slice is the caller's.
func Routes() []Route {
	return []Route{
		{"GET /time", http.HandlerFunc(Time)},
		{"GET /json", http.HandlerFunc(JSON)},
		{"POST /echo", http.HandlerFunc(Echo)},
		{"GET /delay", http.HandlerFunc(Delay)},
	}
}

// Probes returns the liveness and readiness probes, GET /healthz and
// GET /readyz, which every engine mounts itself. ready backs /readyz and
// must not be nil. The slice is the caller's.
func Probes(ready *Readiness) []Route {
	if ready == nil {
		panic("hotpath: service.Probes needs a non-nil *Readiness")
	}
	return []Route{
		{"GET /healthz", http.HandlerFunc(Healthz)},
		{"GET /readyz", ReadyzHandler(ready)},
	}
}

// Mux is where Register mounts routes: server.Server, nbioengine.Server and
// an *http.ServeMux all have this method.
type Mux interface {
	Handle(pattern string, h http.Handler)
}

// Register mounts the seed's demo endpoints (Routes) on m; `hotpath serve`
// calls it, a library user who wants them does too (servers mount only the
// probes on their own). It panics where m.Handle does, e.g. when a route is
// already mounted.
func Register(m Mux) {
	for _, r := range Routes() {
		m.Handle(r.Pattern, r.Handler)
	}
}

// Time answers with the current Unix time in milliseconds as text/plain.
func Time(w http.ResponseWriter, _ *http.Request) {
	var buf [24]byte
	b := AppendUnixMilli(buf[:0], time.Now())
	h := w.Header()
	h["Content-Type"] = contentTypeText
	w.Write(b) //nolint:errcheck // a failed write means the client left; nothing to do
}

// Preallocated header values: assigning them avoids a []string per response.
// Handlers never modify them.
var (
	contentTypeText = []string{ContentTypeText}
	contentTypeJSON = []string{ContentTypeJSON}
	okBody          = []byte("ok\n")
	drainingBody    = []byte("draining\n")
)

// JSON answers with JSONBody as application/json.
func JSON(w http.ResponseWriter, _ *http.Request) {
	w.Header()["Content-Type"] = contentTypeJSON
	w.Write(JSONBody) //nolint:errcheck // client gone
}

// Echo answers with the request body and its Content-Type (none if the
// request had none). A body over the server's limit ends in 413 when the
// body was wrapped by http.MaxBytesReader and nothing was written yet.
func Echo(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot read request body", http.StatusBadRequest)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	} else {
		// Without this, net/http would sniff a type the client never sent.
		w.Header()["Content-Type"] = nil
	}
	w.Write(body) //nolint:errcheck // client gone
}

// Delay answers 200 "ok" after ?ms=N milliseconds (0..10000, else 400). It
// returns early, writing nothing, when the request context ends (client
// gone, request timeout or server shutdown deadline).
func Delay(w http.ResponseWriter, r *http.Request) {
	d, err := ParseDelay(r.URL.Query().Get("ms"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	w.Header()["Content-Type"] = contentTypeText
	w.Write(okBody) //nolint:errcheck // client gone
}

// Healthz is the liveness probe: 200 while the process serves at all,
// draining included (a draining pod must not be restarted).
func Healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header()["Content-Type"] = contentTypeText
	w.Write(okBody) //nolint:errcheck // client gone
}

// ReadyzHandler returns the readiness probe: 200 while ready is Ready, 503
// once draining so load balancers stop sending new traffic.
func ReadyzHandler(ready *Readiness) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header()["Content-Type"] = contentTypeText
		if !ready.Ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write(drainingBody) //nolint:errcheck // client gone
			return
		}
		w.Write(okBody) //nolint:errcheck // client gone
	})
}
