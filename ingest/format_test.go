package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestParseFormat(t *testing.T) {
	t.Parallel()
	for _, f := range []Format{FormatRaw, FormatJSON} {
		got, err := ParseFormat(f.String())
		if err != nil || got != f {
			t.Errorf("ParseFormat(%q) = %v, %v; want %v", f.String(), got, err, f)
		}
	}
	for _, s := range []string{"", "JSON", "yaml", "raw "} {
		if _, err := ParseFormat(s); err == nil {
			t.Errorf("ParseFormat(%q) accepted", s)
		}
	}
	if _, err := New(&memSink{}, Config{Format: Format(7)}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("New with Format 7: %v, want ErrInvalidConfig", err)
	}
}

// With FormatJSON the stored event is the compacted JSON value; anything
// that is not exactly one JSON value is refused (400) and counted
// "invalid", and nothing of it is stored. With FormatRaw the same bytes are
// stored as sent.
func TestSubmitJSON(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, event, stored string // stored "" = refused with ErrInvalidJSON
	}{
		{"object with whitespace is compacted", "{ \"a\" : [1, 2.5e3, true, null] ,\n\t\"b\":\"x y\" }", `{"a":[1,2.5e3,true,null],"b":"x y"}`},
		{"spaces inside strings stay", `[" a ", "\t"]`, `[" a ","\t"]`},
		{"surrounding whitespace goes", " \r\n\"s\"\n", `"s"`},
		{"a bare number", "42", "42"},
		{"invalid UTF-8 in a string is kept", "\"\xff\"", "\"\xff\""},
		{"not JSON", "hello", ""},
		{"two values", `{"a":1} {"b":2}`, ""},
		{"truncated", `{"a":`, ""},
		{"trailing comma", `[1,]`, ""},
		{"whitespace only", "  \n", ""},
	}
	s := &memSink{}
	reg := prometheus.NewRegistry()
	b := newBatcher(t, s, Config{Format: FormatJSON, BatchSize: 1}, WithRegisterer(reg))
	var want []string
	invalid := 0
	for _, tc := range cases {
		_, err := b.Submit(context.Background(), []byte(tc.event))
		if tc.stored == "" {
			invalid++
			if !errors.Is(err, ErrInvalidJSON) {
				t.Errorf("%s: Submit = %v, want ErrInvalidJSON", tc.name, err)
			}
			if st, _ := Status(err); st != http.StatusBadRequest {
				t.Errorf("%s: Status = %d, want 400", tc.name, st)
			}
			if got := string(AppendError(nil, err)); got != "{\"error\":\"event is not valid JSON\"}\n" {
				t.Errorf("%s: error body %q", tc.name, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: Submit = %v", tc.name, err)
			continue
		}
		want = append(want, tc.stored)
	}
	_, stored, _ := s.snapshot()
	var got []string
	for _, e := range stored {
		got = append(got, string(e))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stored %q,\nwant %q", got, want)
	}
	if n := testutil.ToFloat64(b.m.invalid); n != float64(invalid) {
		t.Errorf("%s{result=%q} = %v, want %d", MetricEventsTotal, ResultInvalid, n, invalid)
	}

	raw := &memSink{}
	rb := newBatcher(t, raw, Config{BatchSize: 1})
	if _, err := rb.Submit(context.Background(), []byte("{ \"a\" : 1 }")); err != nil {
		t.Fatal(err)
	}
	if _, stored, _ := raw.snapshot(); string(stored[0]) != "{ \"a\" : 1 }" {
		t.Errorf("FormatRaw stored %q, want the bytes as sent", stored[0])
	}
}

// The handler answers 400 with the fixed reason for an event that is not
// JSON, and stores the compacted value of one that is.
func TestHandlerJSON(t *testing.T) {
	t.Parallel()
	s := &memSink{}
	b := newBatcher(t, s, Config{Format: FormatJSON, BatchSize: 1})
	srv := serve(t, b)
	resp, body := post(t, srv.URL, strings.NewReader("not json"))
	if resp.StatusCode != 400 || body != "{\"error\":\"event is not valid JSON\"}\n" || resp.Header.Get("Retry-After") != "" {
		t.Errorf("not JSON: %d %q", resp.StatusCode, body)
	}
	resp, body = post(t, srv.URL, strings.NewReader(`{ "k" : "v" }`))
	if resp.StatusCode != 202 || body != "{\"offset\":0}\n" {
		t.Errorf("JSON: %d %q", resp.StatusCode, body)
	}
	if _, stored, _ := s.snapshot(); len(stored) != 1 || string(stored[0]) != `{"k":"v"}` {
		t.Errorf("stored %q", stored)
	}
}

// The transform adds no allocation per event once its pool is warm.
func TestSubmitJSONAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	b := newBatcher(t, &nopSink{}, Config{Format: FormatJSON, BatchSize: 1, BatchWait: time.Millisecond})
	event := []byte(`{ "user" : 42, "tags" : ["a", "b"] }`)
	ctx := context.Background()
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := b.Submit(ctx, event); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Errorf("Submit with FormatJSON allocates %v times per event, want 0", allocs)
	}
}

// FuzzCompactJSON: whatever the input, CompactJSON never panics; valid
// JSON in gives valid JSON out that means the same and has no whitespace
// outside strings (compacting it again changes nothing); invalid in is
// ErrInvalidJSON with dst unchanged.
func FuzzCompactJSON(f *testing.F) {
	for _, s := range []string{
		`{"a":1}`, " { \"a\" : [1, 2] } ", `"x y"`, `[]`, `{}`, `null`, `-0.5e-10`, "\"\xff\"", `"\u00e9\n"`,
		``, ` `, `{`, `{"a":1} {"b":2}`, `[1,]`, `nul`, `"unterminated`, "\x00", `{"a":1}x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		dst := bytes.NewBufferString("prefix")
		err := CompactJSON(dst, in)
		if !json.Valid(in) {
			if !errors.Is(err, ErrInvalidJSON) {
				t.Fatalf("CompactJSON(%q) = %v, want ErrInvalidJSON", in, err)
			}
			if dst.String() != "prefix" {
				t.Fatalf("CompactJSON(%q) failed but wrote %q", in, dst.String())
			}
			return
		}
		if err != nil {
			t.Fatalf("CompactJSON(%q) = %v for valid JSON", in, err)
		}
		out, ok := bytes.CutPrefix(dst.Bytes(), []byte("prefix"))
		if !ok || !json.Valid(out) {
			t.Fatalf("CompactJSON(%q) wrote %q: not valid JSON after the prefix", in, dst.Bytes())
		}
		a, b := decode(t, in), decode(t, out)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("CompactJSON(%q) = %q: means %v, want %v", in, out, b, a)
		}
		var again bytes.Buffer
		if err := CompactJSON(&again, out); err != nil || !bytes.Equal(again.Bytes(), out) {
			t.Fatalf("compacting %q again gave %q, %v", out, again.Bytes(), err)
		}
	})
}

// decode is v decoded with numbers as their text (json.Number), so that
// meaning compares exactly and numbers beyond float64 (1e700) decode.
func decode(t *testing.T, v []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(v))
	d.UseNumber()
	var x any
	if err := d.Decode(&x); err != nil {
		t.Fatalf("decoding %q: %v", v, err)
	}
	return x
}
