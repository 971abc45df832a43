package conformance

import (
	"bytes"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hotpath-dev/hotpath/internal/policy"
	"github.com/hotpath-dev/hotpath/server"
	"github.com/hotpath-dev/hotpath/service"
)

// absent as a wanted header value means the header must not be sent.
const absent = "\x00absent"

// textPlain is the Content-Type of every text response and error.
const textPlain = "text/plain; charset=utf-8"

// generatedID matches an ID made by policy.AppendRequestID.
var generatedID = regexp.MustCompile(`^[0-9a-f]{16}-[0-9a-f]{16}$`)

// reqCase is one request and what every engine must answer.
type reqCase struct {
	name   string
	method string
	path   string
	header map[string]string
	body   string

	status int
	// wantHeader values must match exactly (absent: must not be present).
	wantHeader map[string]string
	// wantBody, when non-nil, must equal the body.
	wantBody *string
	// check, when set, validates the body further.
	check func(body []byte) error
	// requestID is the X-Request-ID the response must carry: "" means a
	// generated one, "-" means none is required (refused before the
	// middleware chain runs).
	requestID string
}

func str(s string) *string { return &s }

// recentUnixMilli checks a /time body.
func recentUnixMilli(body []byte) error {
	ms, err := strconv.ParseInt(string(body), 10, 64)
	if err != nil {
		return errorf("body %q is not decimal Unix milliseconds", body)
	}
	if d := time.Since(time.UnixMilli(ms)); d < -time.Minute || d > time.Minute {
		return errorf("body %q is %v away from now", body, d)
	}
	return nil
}

var bearer = map[string]string{"Authorization": "Bearer " + Token}

// cases is the request table of the default profile (baseConfig).
func cases() []reqCase {
	okText := map[string]string{"Content-Type": textPlain}
	return []reqCase{
		// The seed's endpoints.
		{name: "time answers Unix ms as text", method: "GET", path: "/time", status: 200,
			wantHeader: okText, check: recentUnixMilli},
		{name: "json answers the fixed message", method: "GET", path: "/json", status: 200,
			wantHeader: map[string]string{"Content-Type": service.ContentTypeJSON}, wantBody: str(string(service.JSONBody))},
		{name: "healthz is ok", method: "GET", path: "/healthz", status: 200, wantHeader: okText, wantBody: str("ok\n")},
		{name: "readyz is ok while serving", method: "GET", path: "/readyz", status: 200, wantHeader: okText, wantBody: str("ok\n")},
		{name: "delay 0 answers at once", method: "GET", path: "/delay?ms=0", status: 200, wantHeader: okText, wantBody: str("ok\n")},
		{name: "delay 20 answers", method: "GET", path: "/delay?ms=20", status: 200, wantBody: str("ok\n")},

		// HEAD wherever GET works: same status and headers, no body.
		{name: "HEAD time has no body", method: "HEAD", path: "/time", status: 200, wantHeader: okText, wantBody: str("")},
		{name: "HEAD json has no body", method: "HEAD", path: "/json", status: 200,
			wantHeader: map[string]string{"Content-Type": service.ContentTypeJSON}, wantBody: str("")},
		{name: "HEAD healthz", method: "HEAD", path: "/healthz", status: 200, wantBody: str("")},

		// Echo, behind auth.
		{name: "echo returns body and content type", method: "POST", path: "/echo", header: merge(bearer, map[string]string{"Content-Type": "application/x-conformance"}),
			body: "hello, engines", status: 200, wantHeader: map[string]string{"Content-Type": "application/x-conformance"}, wantBody: str("hello, engines")},
		{name: "echo without content type sends none", method: "POST", path: "/echo", header: bearer,
			body: "<html>not sniffed</html>", status: 200, wantHeader: map[string]string{"Content-Type": absent}, wantBody: str("<html>not sniffed</html>")},
		{name: "echo of an empty body", method: "POST", path: "/echo", header: bearer, status: 200, wantBody: str("")},
		{name: "echo at the body limit is fine", method: "POST", path: "/echo", header: bearer,
			body: strings.Repeat("b", maxBodyBytes), status: 200, wantBody: str(strings.Repeat("b", maxBodyBytes))},

		// 400: bad delay values.
		{name: "delay without ms is 400", method: "GET", path: "/delay", status: 400, wantHeader: okText},
		{name: "delay with letters is 400", method: "GET", path: "/delay?ms=abc", status: 400, wantHeader: okText},
		{name: "delay with a sign is 400", method: "GET", path: "/delay?ms=+5", status: 400},
		{name: "delay over 10000 is 400", method: "GET", path: "/delay?ms=10001", status: 400},
		{name: "negative delay is 400", method: "GET", path: "/delay?ms=-1", status: 400},

		// 401: auth on the guarded route only.
		{name: "echo without token is 401", method: "POST", path: "/echo", body: "x", status: 401,
			wantHeader: map[string]string{"WWW-Authenticate": `Bearer realm="` + server.DefaultRealm + `"`, "Content-Type": textPlain},
			wantBody:   str("unauthorized\n")},
		{name: "echo with a wrong token is 401", method: "POST", path: "/echo", body: "x",
			header: map[string]string{"Authorization": "Bearer nope"}, status: 401,
			wantHeader: map[string]string{"WWW-Authenticate": `Bearer realm="` + server.DefaultRealm + `", error="invalid_token"`}},
		{name: "echo with a non-bearer scheme is 401", method: "POST", path: "/echo", body: "x",
			header: map[string]string{"Authorization": "Basic " + Token}, status: 401},

		// 404: unknown paths, and the admin surface on the public port.
		{name: "unknown path is 404", method: "GET", path: "/nope", status: 404, wantHeader: okText, wantBody: str("404 page not found\n")},
		{name: "pprof is not on the public port", method: "GET", path: "/debug/pprof/", status: 404},
		{name: "metrics are not on the public port", method: "GET", path: "/metrics", status: 404},
		{name: "path match is exact", method: "GET", path: "/time/", status: 404},

		// 405 with Allow.
		{name: "POST time is 405", method: "POST", path: "/time", status: 405,
			wantHeader: map[string]string{"Allow": "GET, HEAD", "Content-Type": textPlain}, wantBody: str("Method Not Allowed\n")},
		{name: "DELETE json is 405", method: "DELETE", path: "/json", status: 405, wantHeader: map[string]string{"Allow": "GET, HEAD"}},
		{name: "GET echo is 405", method: "GET", path: "/echo", header: bearer, status: 405, wantHeader: map[string]string{"Allow": "POST"}},
		{name: "PUT readyz is 405", method: "PUT", path: "/readyz", status: 405, wantHeader: map[string]string{"Allow": "GET, HEAD"}},

		// 413: body over the limit.
		{name: "echo over the body limit is 413", method: "POST", path: "/echo", header: bearer,
			body: strings.Repeat("b", maxBodyBytes+1), status: 413, wantHeader: okText, wantBody: str("request body too large\n")},

		// 431: headers over the limit (net/http allows 4 KiB of slack, so go well past).
		{name: "huge header is 431", method: "GET", path: "/time",
			header: map[string]string{"X-Big": strings.Repeat("h", maxHeaderBytes+8<<10)}, status: 431, requestID: "-"},

		// 503: the per-request timeout.
		{name: "handler slower than the request timeout is 503", method: "GET", path: "/delay?ms=5000", status: 503,
			wantHeader: okText, wantBody: str(policy.TimeoutBody)},

		// Request IDs.
		{name: "a valid request ID is propagated", method: "GET", path: "/time", header: map[string]string{"X-Request-ID": "abc-123_DEF"},
			status: 200, requestID: "abc-123_DEF"},
		{name: "a request ID with a space is replaced", method: "GET", path: "/time", header: map[string]string{"X-Request-ID": "a b"}, status: 200},
		{name: "a request ID over the limit is replaced", method: "GET", path: "/time",
			header: map[string]string{"X-Request-ID": strings.Repeat("i", policy.MaxRequestIDLen+1)}, status: 200},
		{name: "a request ID at the limit is kept", method: "GET", path: "/json",
			header:    map[string]string{"X-Request-ID": strings.Repeat("i", policy.MaxRequestIDLen)},
			status:    200,
			requestID: strings.Repeat("i", policy.MaxRequestIDLen)},
		{name: "rejected requests carry a request ID too", method: "GET", path: "/nope", header: map[string]string{"X-Request-ID": "rid-404"},
			status: 404, requestID: "rid-404"},
	}
}

// hasCase reports whether a request case or a timeout case is called name.
func hasCase(name string) bool {
	for _, tc := range cases() {
		if tc.name == name {
			return true
		}
	}
	for _, tc := range timeoutCases() {
		if tc.name == name {
			return true
		}
	}
	return false
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// runTable runs cases against one engine in the default profile.
func runTable(t *testing.T, f Factory, except map[string]string) {
	r := start(t, f, baseConfig())
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for _, tc := range cases() {
		t.Run(tc.name, func(t *testing.T) {
			if why, ok := except[tc.name]; ok {
				t.Skip("engine limit: " + why)
			}
			if err := do(client, r.url, tc); err != nil {
				t.Error(err)
			}
		})
	}
}

// do sends tc and checks the response.
func do(client *http.Client, base string, tc reqCase) error {
	var body io.Reader
	if tc.body != "" {
		body = strings.NewReader(tc.body)
	}
	req, err := http.NewRequest(tc.method, base+tc.path, body)
	if err != nil {
		return err
	}
	for k, v := range tc.header {
		req.Header.Set(k, v)
	}
	res, err := client.Do(req)
	if err != nil {
		return errorf("%s %s: %v", tc.method, tc.path, err)
	}
	got, err := io.ReadAll(res.Body)
	res.Body.Close()
	// A server refusing oversized headers closes the connection with the
	// request partly unread, so a reset may cut the response body short.
	if err != nil && !(tc.status == 431 && res.StatusCode == 431) {
		return errorf("%s %s: read body: %v", tc.method, tc.path, err)
	}
	var errs []string
	if res.StatusCode != tc.status {
		errs = append(errs, "status "+strconv.Itoa(res.StatusCode)+", want "+strconv.Itoa(tc.status))
	}
	for k, want := range tc.wantHeader {
		vals, ok := res.Header[http.CanonicalHeaderKey(k)]
		switch {
		case want == absent && ok:
			errs = append(errs, k+" is "+strconv.Quote(strings.Join(vals, ","))+", want it absent")
		case want != absent && (len(vals) != 1 || vals[0] != want):
			errs = append(errs, k+" is "+strconv.Quote(strings.Join(vals, ","))+", want "+strconv.Quote(want))
		}
	}
	if tc.wantBody != nil && !bytes.Equal(got, []byte(*tc.wantBody)) {
		errs = append(errs, "body "+strconv.Quote(clip(got))+", want "+strconv.Quote(clip([]byte(*tc.wantBody))))
	}
	if tc.check != nil {
		if err := tc.check(got); err != nil {
			errs = append(errs, err.Error())
		}
	}
	id := res.Header.Values(policy.RequestIDHeader)
	switch tc.requestID {
	case "-":
	case "":
		if len(id) != 1 || !generatedID.MatchString(id[0]) {
			errs = append(errs, "X-Request-ID "+strconv.Quote(strings.Join(id, ","))+", want one generated ID")
		}
	default:
		if len(id) != 1 || id[0] != tc.requestID {
			errs = append(errs, "X-Request-ID "+strconv.Quote(strings.Join(id, ","))+", want "+strconv.Quote(tc.requestID))
		}
	}
	if len(errs) > 0 {
		return errorf("%s %s: %s", tc.method, tc.path, strings.Join(errs, "; "))
	}
	return nil
}

func clip(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}
