package doctor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"net/http"
	"net/url"
	"strings"

	"github.com/google/pprof/profile"
)

// Errors returned by Run when the target cannot be diagnosed at all. They are
// wrapped with the URL and the cause; test with errors.Is.
var (
	// ErrUnreachable means no HTTP response came back from the admin address
	// (connection refused, DNS failure, timeout, TLS failure).
	ErrUnreachable = errors.New("admin endpoint unreachable")
	// ErrUnauthorized means the target answered 401 or 403: the token is
	// missing or wrong.
	ErrUnauthorized = errors.New("admin endpoint refused access")
	// ErrNotPprof means the target answered, but not with net/http/pprof data
	// (a 404, an HTML page, or bytes that are not a profile).
	ErrNotPprof = errors.New("not a net/http/pprof endpoint")
)

// maxBody bounds every profile download; a debug=2 goroutine dump of a
// process with a million goroutines is well below it.
const maxBody = 256 << 20

// fetcher downloads profiles from one pprof base URL.
type fetcher struct {
	base   *url.URL // ends in /debug/pprof/
	token  string
	client *http.Client
}

// pprofBase turns the --admin address into the pprof index URL. It accepts
// http://host:port (pprof assumed at /debug/pprof/) or a URL that already
// ends in /debug/pprof[/].
func pprofBase(admin string) (*url.URL, error) {
	u, err := url.Parse(admin)
	if err != nil {
		return nil, fmt.Errorf("admin URL %q: %w", admin, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("admin URL %q: scheme must be http or https", admin)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("admin URL %q: no host", admin)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("admin URL %q: must not carry a query or fragment", admin)
	}
	p := strings.TrimSuffix(u.Path, "/")
	if !strings.HasSuffix(p, "/debug/pprof") {
		p += "/debug/pprof"
	}
	u.Path = p + "/"
	u.RawPath = ""
	return u, nil
}

// url returns the address of one profile with the given query.
func (f *fetcher) url(name string, q url.Values) string {
	u := *f.base
	u.Path += name
	u.RawQuery = q.Encode()
	return u.String()
}

// get downloads one pprof resource and classifies failures into the
// package's sentinel errors.
func (f *fetcher) get(ctx context.Context, name string, q url.Values) ([]byte, error) {
	return f.getURL(ctx, f.url(name, q))
}

// metricsURL is where a Prometheus endpoint would sit beside pprof: the
// pprof base with "debug/pprof/" replaced by "metrics".
func (f *fetcher) metricsURL() string {
	u := *f.base
	u.Path = strings.TrimSuffix(u.Path, "debug/pprof/") + "metrics"
	return u.String()
}

// getURL is get for an absolute URL.
func (f *fetcher) getURL(ctx context.Context, target string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", target, err)
	}
	if f.token != "" {
		req.Header.Set("Authorization", "Bearer "+f.token)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("GET %s: %w", target, ctx.Err())
		}
		return nil, fmt.Errorf("GET %s: %w: %w", target, ErrUnreachable, unwrapURLError(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: reading body: %w", target, err)
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("GET %s: body larger than %d bytes", target, maxBody)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		hint := "pass the admin token with --token"
		if f.token != "" {
			hint = "the token was rejected"
		}
		return nil, fmt.Errorf("GET %s: %s: %w (%s)", target, resp.Status, ErrUnauthorized, hint)
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("GET %s: %s: %w (is net/http/pprof mounted there?)", target, resp.Status, ErrNotPprof)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("GET %s: %s: %s", target, resp.Status, firstLine(body))
	}
	if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "text/html") {
		return nil, fmt.Errorf("GET %s: got an HTML page: %w", target, ErrNotPprof)
	}
	return body, nil
}

// getProfile downloads and parses a protobuf profile; wantType, when not
// empty, must be the first sample type (e.g. "goroutine").
func (f *fetcher) getProfile(ctx context.Context, name string, q url.Values, wantType string) (*profile.Profile, []byte, error) {
	raw, err := f.get(ctx, name, q)
	if err != nil {
		return nil, nil, err
	}
	p, err := profile.ParseData(raw)
	if err != nil {
		return nil, raw, fmt.Errorf("GET %s: %w: %w", f.url(name, q), ErrNotPprof, err)
	}
	if wantType != "" && (len(p.SampleType) == 0 || p.SampleType[0].Type != wantType) {
		return nil, raw, fmt.Errorf("GET %s: profile has sample types %v, want %q: %w",
			f.url(name, q), sampleTypes(p), wantType, ErrNotPprof)
	}
	return p, raw, nil
}

func sampleTypes(p *profile.Profile) []string {
	out := make([]string, len(p.SampleType))
	for i, st := range p.SampleType {
		out[i] = st.Type
	}
	return out
}

// unwrapURLError drops the *url.Error layer, whose text repeats the URL the
// caller already prints.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// firstLine returns the first non-empty line of body, shortened, for error
// messages.
func firstLine(body []byte) string {
	body = bytes.TrimSpace(body)
	if i := bytes.IndexByte(body, '\n'); i >= 0 {
		body = body[:i]
	}
	if len(body) > 120 {
		body = append(body[:120:120], "..."...)
	}
	if len(body) == 0 {
		return "(empty body)"
	}
	return string(body)
}
