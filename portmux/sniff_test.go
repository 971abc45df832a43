package portmux

import (
	"bytes"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2start builds a client's first bytes: preface, SETTINGS, WINDOW_UPDATE,
// then a HEADERS frame carrying the given fields (split into CONTINUATION
// frames of at most split bytes when split > 0).
func h2start(t testing.TB, fields [][2]string, split int, prio bool) []byte {
	t.Helper()
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range fields {
		if err := enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	out.WriteString(preface)
	fr := http2.NewFramer(&out, nil)
	if err := fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	if err := fr.WriteWindowUpdate(0, 1<<20); err != nil {
		t.Fatal(err)
	}
	b := block.Bytes()
	first := b
	if split > 0 && len(b) > split {
		first = b[:split]
	}
	hp := http2.HeadersFrameParam{StreamID: 1, BlockFragment: first, EndHeaders: len(first) == len(b)}
	if prio {
		hp.Priority = http2.PriorityParam{StreamDep: 0, Weight: 15}
		hp.PadLength = 3
	}
	if err := fr.WriteHeaders(hp); err != nil {
		t.Fatal(err)
	}
	for rest := b[len(first):]; len(rest) > 0; {
		n := min(split, len(rest))
		if err := fr.WriteContinuation(1, n == len(rest), rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	return out.Bytes()
}

func grpcFields(ct string) [][2]string {
	return [][2]string{
		{":method", "POST"}, {":scheme", "http"}, {":path", "/hotpath.v1.TimeService/Now"},
		{":authority", "127.0.0.1:1234"}, {"content-type", ct}, {"user-agent", "grpc-go/1.85.0"}, {"te", "trailers"},
	}
}

func TestSniff(t *testing.T) {
	long := grpcFields("application/grpc")
	for i := 0; i < 20; i++ {
		long = append(long, [2]string{"x-pad", string(bytes.Repeat([]byte{'a' + byte(i)}, 100))})
	}
	full := h2start(t, grpcFields("application/grpc"), 0, false)
	cases := []struct {
		name string
		in   []byte
		want verdict
	}{
		{"HTTP/1.1 GET", []byte("GET /time HTTP/1.1\r\nHost: x\r\n\r\n"), routeHTTP},
		{"HTTP/1.1 POST shares the preface's first byte", []byte("POST /v1/echo HTTP/1.1\r\n"), routeHTTP},
		{"one byte of preface", []byte("P"), needMore},
		{"PRI of HTTP/1 is not h2", []byte("PRI * HTTP/1.1\r\n"), routeHTTP},
		{"empty", nil, needMore},
		{"preface only", []byte(preface), needMore},
		{"gRPC request", full, routeGRPC},
		{"gRPC request cut one byte short", full[:len(full)-1], needMore},
		{"gRPC with codec suffix", h2start(t, grpcFields("application/grpc+proto"), 0, false), routeGRPC},
		{"gRPC with parameters", h2start(t, grpcFields("application/grpc; charset=utf-8"), 0, false), routeGRPC},
		{"gRPC content type in another case", h2start(t, grpcFields("Application/GRPC"), 0, false), routeGRPC},
		{"gRPC with priority and padding", h2start(t, grpcFields("application/grpc"), 0, true), routeGRPC},
		{"gRPC headers split over CONTINUATION", h2start(t, long, 100, false), routeGRPC},
		{"gRPC-Web goes to HTTP", h2start(t, grpcFields("application/grpc-web"), 0, false), routeHTTP},
		{"JSON over h2c", h2start(t, grpcFields("application/json"), 0, false), routeHTTP},
		{"GET over h2c without content type", h2start(t, [][2]string{{":method", "GET"}, {":path", "/time"}, {":scheme", "http"}, {":authority", "x"}}, 0, false), routeHTTP},
		{"malformed HPACK", append([]byte(preface), 0, 0, 3, frameHeaders, flagEndHeaders, 0, 0, 0, 1, 0xff, 0xff, 0xff), routeHTTP},
		{"HEADERS on stream 0", append([]byte(preface), 0, 0, 1, frameHeaders, flagEndHeaders, 0, 0, 0, 0, 0x82), routeHTTP},
		{"frame over 16 KiB", append([]byte(preface), 0x01, 0, 0, frameHeaders, 0, 0, 0, 0, 1), routeHTTP},
		{"DATA between HEADERS and CONTINUATION", append(h2start(t, long, 100, false)[:len(preface)+9+6+4+9+9+100], 0, 0, 0, 0, 0, 0, 0, 0, 1), routeHTTP},
		{"padding longer than the payload", append([]byte(preface), 0, 0, 2, frameHeaders, flagEndHeaders|flagPadded, 0, 0, 0, 1, 5, 0x82), routeHTTP},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := sniff(tc.in)
			if got != tc.want {
				t.Errorf("sniff = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestIsGRPC(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/grpc": true, "application/grpc+json": true, "application/grpc;x=y": true,
		"application/grpc-web": false, "application/grpc-web+proto": false, "application/json": false,
		"": false, "application/grp": false, "application/grpcx": false,
	} {
		if got := IsGRPC(ct); got != want {
			t.Errorf("IsGRPC(%q) = %v, want %v", ct, got, want)
		}
	}
}

// FuzzSniff: sniff never panics, and once it decides, more bytes never
// change the decision (the routing is made on a prefix).
func FuzzSniff(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"), []byte("x"))
	f.Add(h2start(f, grpcFields("application/grpc"), 0, false), []byte{0, 0, 0, 4, 1, 0, 0, 0, 0})
	f.Add(h2start(f, grpcFields("application/json"), 10, true), []byte("more"))
	f.Add([]byte(preface), []byte{0, 0, 5, 1, 4, 0, 0, 0, 1, 0x82, 0x86, 0x84, 0x41, 0x8a})
	f.Fuzz(func(t *testing.T, b, more []byte) {
		v, _ := sniff(b)
		if v == needMore {
			return
		}
		if v2, _ := sniff(append(append([]byte(nil), b...), more...)); v2 != v {
			t.Fatalf("sniff(b) = %v but sniff(b+more) = %v", v, v2)
		}
	})
}
