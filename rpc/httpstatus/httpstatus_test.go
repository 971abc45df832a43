package httpstatus

import (
	"testing"

	"google.golang.org/grpc/codes"
)

func TestFromCode(t *testing.T) {
	// Every code maps somewhere in 2xx-5xx (or 499), and the common ones as documented.
	for c := range 20 {
		got := FromCode(codeOf(c))
		if got < 200 || got > 599 {
			t.Errorf("code %d → %d", c, got)
		}
	}
	want := map[int]int{0: 200, 1: 499, 3: 400, 4: 504, 5: 404, 7: 403, 8: 429, 12: 501, 13: 500, 14: 503, 16: 401}
	for c, w := range want {
		if got := FromCode(codeOf(c)); got != w {
			t.Errorf("code %d → %d, want %d", c, got, w)
		}
	}
}

func codeOf(c int) codes.Code { return codes.Code(uint32(c)) }
