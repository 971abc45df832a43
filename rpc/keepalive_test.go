package rpc

import (
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// A client that pings faster than KeepaliveMinTime is told to calm down
// (GOAWAY ENHANCE_YOUR_CALM "too_many_pings") and cut off: the enforcement
// policy from Config reaches grpc-go. Raw frames, so no client-side clamp
// on the ping interval gets in the way.
func TestKeepaliveEnforcement(t *testing.T) {
	ts := start(t, Config{KeepaliveMinTime: time.Hour}, false)
	c, err := net.Dial("tcp", ts.conn.Target())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := fr.WritePing(false, [8]byte{byte(i)}); err != nil {
			break // the server may already have closed the connection
		}
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("connection ended without GOAWAY: %v", err)
		}
		if ga, ok := f.(*http2.GoAwayFrame); ok {
			if ga.ErrCode != http2.ErrCodeEnhanceYourCalm || !strings.Contains(string(ga.DebugData()), "too_many_pings") {
				t.Errorf("GOAWAY %v %q, want ENHANCE_YOUR_CALM too_many_pings", ga.ErrCode, ga.DebugData())
			}
			return
		}
	}
}
