package policy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// tag returns a middleware that appends name to the X-Trace header before and
// after the handler, to observe order.
func tag(name string, trace *[]string) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			*trace = append(*trace, name+">")
			next.ServeHTTP(w, r)
			*trace = append(*trace, "<"+name)
		})
	}
}

func TestChain(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		mws  func(trace *[]string) []Middleware
		want string
	}{
		{"first sees the request first and the response last", func(tr *[]string) []Middleware {
			return []Middleware{tag("a", tr), tag("b", tr), tag("c", tr)}
		}, "a> b> c> h <c <b <a"},
		{"nil entries are skipped", func(tr *[]string) []Middleware {
			return []Middleware{nil, tag("a", tr), nil, tag("b", tr), nil}
		}, "a> b> h <b <a"},
		{"empty chain is the identity", func(*[]string) []Middleware { return nil }, "h"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var trace []string
			h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { trace = append(trace, "h") })
			Chain(c.mws(&trace)...)(h).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
			if got := strings.Join(trace, " "); got != c.want {
				t.Errorf("order = %q, want %q", got, c.want)
			}
		})
	}
}

func TestChainCopiesItsArguments(t *testing.T) {
	t.Parallel()
	var trace []string
	ms := []Middleware{tag("a", &trace)}
	chain := Chain(ms...)
	ms[0] = tag("changed", &trace)
	chain(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if got := strings.Join(trace, " "); got != "a> <a" {
		t.Errorf("trace = %q: Chain must not see later changes to its slice", got)
	}
}

func ExampleChain() {
	chain := Chain(
		RequestID(),
		Timeout(2*time.Second),
		Shed(100),
	)
	h := chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, ok := r.Context().Deadline()
		fmt.Fprintf(w, "deadline=%v id=%v", ok, RequestIDFrom(r.Context()) != "")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	fmt.Println(rec.Code, rec.Body.String())
	// Output: 200 deadline=true id=true
}
