// Allocation counts differ under -race; this file is built without it.

//go:build !race

package filelog

import (
	"bytes"
	"context"
	"testing"
)

// TestAppendAllocs: an Append allocates only the positions it returns (the
// batch buffer and the read buffers are reused).
func TestAppendAllocs(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{Fsync: FsyncNever})
	defer closeLog(t, l)
	evs := make([][]byte, 16)
	for i := range evs {
		evs[i] = bytes.Repeat([]byte{'e'}, 256)
	}
	ctx := context.Background()
	appendOK(t, l, evs, 0) // grow the batch buffer
	if n := testing.AllocsPerRun(200, func() {
		if _, err := l.Append(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}); n != 1 {
		t.Fatalf("Append allocates %v times, want 1 (the positions)", n)
	}
}
