package lab

import (
	"bytes"
	"strings"
	"testing"
)

func TestProgress(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b)
	p.plan(3)
	p.step(Servers, 1, 2, "nginx at saturation")
	if got := b.String(); !strings.HasPrefix(got, "\r\033[K") || !strings.Contains(got, "servers · round 1/2 · nginx at saturation") || strings.Contains(got, "left") {
		t.Fatalf("first step %q: want the scenario, round and row, and no estimate yet", got)
	}
	p.step(Servers, 1, 2, "nodejs at saturation")
	if !strings.Contains(b.String(), "left") {
		t.Fatalf("second step %q: want a time-left estimate", b.String())
	}
	p.done()
	if !strings.HasSuffix(b.String(), "\r\033[K") {
		t.Fatal("done does not clear the line")
	}
	newProgress(nil).step(GC, 1, 1, "x") // no writer: no output, no panic
}
