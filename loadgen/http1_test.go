package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReadResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		in        string
		head      bool
		status    int
		keepAlive bool
		wantErr   error // nil, errProtocol, io.EOF or io.ErrUnexpectedEOF
	}{
		{"content-length body is discarded", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, 200, true, nil},
		{"header names are case-insensitive", "HTTP/1.1 200 OK\r\ncOnTeNt-LeNgTh: 2\r\n\r\nhi", false, 200, true, nil},
		{"chunked body with extension and trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nX-T: 1\r\n\r\n", false, 200, true, nil},
		{"connection close ends keep-alive", "HTTP/1.1 503 Busy\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", false, 503, false, nil},
		{"HTTP/1.0 closes by default", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false, 200, false, nil},
		{"HTTP/1.0 keep-alive is honoured", "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n", false, 200, true, nil},
		{"no length reads to EOF and closes", "HTTP/1.1 200 OK\r\n\r\nall of it", false, 200, false, nil},
		{"HEAD has no body despite Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", true, 200, true, nil},
		{"204 has no body", "HTTP/1.1 204 No Content\r\n\r\n", false, 204, true, nil},
		{"100 Continue is skipped", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", false, 201, true, nil},
		{"status line without reason", "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", false, 404, true, nil},
		{"LF-only line endings are accepted", "HTTP/1.1 200 OK\nContent-Length: 1\n\nx", false, 200, true, nil},
		{"empty input is a clean EOF (stale connection)", "", false, 0, false, io.EOF},
		{"truncated body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", false, 200, true, io.ErrUnexpectedEOF},
		{"truncated headers", "HTTP/1.1 200 OK\r\nContent-Len", false, 200, true, io.ErrUnexpectedEOF},
		{"not HTTP", "SSH-2.0-OpenSSH\r\n\r\n", false, 0, false, errProtocol},
		{"letters in status", "HTTP/1.1 2x0 OK\r\n\r\n", false, 0, false, errProtocol},
		{"status glued to reason", "HTTP/1.1 2000 OK\r\n\r\n", false, 0, false, errProtocol},
		{"conflicting content lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx", false, 200, true, errProtocol},
		{"negative content length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", false, 200, true, errProtocol},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false, 200, true, errProtocol},
		{"chunk without CRLF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n", false, 200, true, errProtocol},
		{"header without colon", "HTTP/1.1 200 OK\r\nnonsense\r\n\r\n", false, 200, true, errProtocol},
		{"overlong header line", "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", readBufSize) + "\r\n\r\n", false, 200, true, errProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReaderSize(strings.NewReader(tt.in), readBufSize)
			info, err := readResponse(br, tt.head)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if info.status != tt.status || info.keepAlive != tt.keepAlive {
				t.Errorf("got status %d keepAlive %v, want %d %v", info.status, info.keepAlive, tt.status, tt.keepAlive)
			}
			if info.bytes != int64(len(tt.in)) {
				t.Errorf("consumed %d bytes, want all %d", info.bytes, len(tt.in))
			}
		})
	}
}

// TestReadResponseKeepsFraming checks that two pipelined responses are
// read one after the other without losing bytes.
func TestReadResponseKeepsFraming(t *testing.T) {
	t.Parallel()
	in := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n" +
		"HTTP/1.1 418 Teapot\r\nContent-Length: 3\r\n\r\nxyz"
	br := bufio.NewReaderSize(strings.NewReader(in), readBufSize)
	for _, want := range []int{200, 418} {
		info, err := readResponse(br, false)
		if err != nil || info.status != want {
			t.Fatalf("got %d, %v; want %d", info.status, err, want)
		}
	}
	if _, err := readResponse(br, false); err != io.EOF {
		t.Fatalf("after the last response: %v, want io.EOF", err)
	}
}

func TestReadResponseDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	resp := []byte("HTTP/1.1 200 OK\r\nServer: x\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\n1764175200000")
	rd := bytes.NewReader(resp)
	br := bufio.NewReaderSize(rd, readBufSize)
	n := testing.AllocsPerRun(1000, func() {
		rd.Reset(resp)
		br.Reset(rd)
		if _, err := readResponse(br, false); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Fatalf("readResponse allocates %v times per response", n)
	}
}

func TestBuildRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		method    string
		headers   []Header
		body      string
		keepAlive bool
		want      string
	}{
		{"plain GET", "GET", nil, "", true,
			"GET /time?x=1 HTTP/1.1\r\nHost: h:8\r\nUser-Agent: hotpath-bench\r\n\r\n"},
		{"user headers override Host and User-Agent", "GET", []Header{{"Host", "v"}, {"User-Agent", "me"}}, "", true,
			"GET /time?x=1 HTTP/1.1\r\nHost: v\r\nUser-Agent: me\r\n\r\n"},
		{"POST body gets a length", "POST", []Header{{"Content-Type", "application/json"}}, "{}", true,
			"POST /time?x=1 HTTP/1.1\r\nHost: h:8\r\nUser-Agent: hotpath-bench\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"},
		{"no keep-alive asks to close", "GET", nil, "", false,
			"GET /time?x=1 HTTP/1.1\r\nHost: h:8\r\nUser-Agent: hotpath-bench\r\nConnection: close\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(buildRequest(tt.method, "/time?x=1", "h:8", tt.headers, []byte(tt.body), tt.keepAlive))
			if got != tt.want {
				t.Fatalf("got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// FuzzReadResponse feeds arbitrary bytes to the response parser: it must
// never panic, never claim more bytes than it was given, and report a
// status only in 100-999.
func FuzzReadResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nbody",
		"HTTP/1.1 200 OK\r\nConnection: close, keep-alive\r\nContent-Length: 0\r\n\r\n",
	} {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, head bool) {
		br := bufio.NewReaderSize(bytes.NewReader(data), 64)
		for i := 0; i < 4; i++ {
			info, err := readResponse(br, head)
			if info.bytes > int64(len(data)) {
				t.Fatalf("consumed %d of %d bytes", info.bytes, len(data))
			}
			if err != nil {
				return
			}
			if info.status < 100 || info.status > 999 {
				t.Fatalf("status %d accepted", info.status)
			}
		}
	})
}

func BenchmarkReadResponse(b *testing.B) {
	resp := []byte("HTTP/1.1 200 OK\r\nServer: fasthttp\r\nDate: Thu, 26 Nov 2026 17:00:00 GMT\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\n1764175200000")
	rd := bytes.NewReader(resp)
	br := bufio.NewReaderSize(rd, readBufSize)
	b.ReportAllocs()
	b.SetBytes(int64(len(resp)))
	for b.Loop() {
		rd.Reset(resp)
		br.Reset(rd)
		if _, err := readResponse(br, false); err != nil {
			b.Fatal(err)
		}
	}
}
