package middleware_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hotpath-dev/hotpath/middleware"
)

// ExampleMetrics mounts a route with its label and reads the counter back
// from the registry, as a Prometheus scrape would.
func ExampleMetrics() {
	reg := prometheus.NewRegistry()
	metrics, err := middleware.Metrics(reg)
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /time", middleware.Labeled("/time", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "1764160000000")
	})))
	h := middleware.Chain(middleware.Recover(nil), middleware.RequestID(), metrics)(mux)

	for _, path := range []string{"/time", "/time", "/nope"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", path, nil))
	}

	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(line, "hotpath_http_requests_total{") {
			fmt.Println(line)
		}
	}
	// Output:
	// hotpath_http_requests_total{code="200",method="GET",route="/time"} 2
	// hotpath_http_requests_total{code="404",method="GET",route="unmatched"} 1
}
