package fasthttpengine

import (
	"bufio"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/hotpath-dev/hotpath/server"
)

func TestHeaderReceived(t *testing.T) {
	s, err := New(server.Config{AdminAddr: server.AdminOff, ReadTimeout: 7 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	tests := []struct {
		name, head string
		want       time.Duration
	}{
		{"GET without a body keeps the read-header deadline", "GET /time HTTP/1.1\r\nHost: x\r\n\r\n", 0},
		{"Content-Length 0", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 0},
		{"a body gets the read timeout", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n", 7 * time.Second},
		{"a chunked body gets the read timeout", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 7 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h fasthttp.RequestHeader
			if err := h.Read(bufio.NewReader(strings.NewReader(tc.head))); err != nil {
				t.Fatal(err)
			}
			if got := s.headerReceived(&h).ReadTimeout; got != tc.want {
				t.Fatalf("ReadTimeout %v; want %v", got, tc.want)
			}
		})
	}
}
