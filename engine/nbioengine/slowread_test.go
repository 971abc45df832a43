package nbioengine

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hotpath-dev/hotpath/server"
)

// A client that pipelines large echoes and never reads the answers has its
// connection closed once the unsent answers pass writeBudget, long before
// the write timeout, instead of the process buffering every answer it asked
// for (nbio's writes never block the handler). Without the budget the
// server read such a client's requests for as long as it sent them.
func TestSlowReaderCutAtWriteBudget(t *testing.T) {
	addr := runEngine(t, server.Config{WriteTimeout: time.Minute})
	const body = 512 << 10
	one := []byte("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
		strconv.Itoa(body) + "\r\n\r\n" + strings.Repeat("e", body))
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.(*net.TCPConn).SetReadBuffer(4 << 10) // it never reads
	start := time.Now()
	const limit = 15 * time.Second
	_ = c.SetWriteDeadline(start.Add(limit))
	sent := 0
	for {
		n, err := c.Write(one)
		sent += n
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("still taking requests %v later (%d MiB sent, none of the answers read): nothing cut the connection",
				limit, sent>>20)
		}
		t.Logf("cut after %v and %d MiB of requests (%d answers' worth; budget %d MiB): %v",
			time.Since(start).Round(time.Millisecond), sent>>20, sent/len(one), writeBudget(server.DefaultMaxBodyBytes)>>20, err)
		return
	}
}
