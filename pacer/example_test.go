package pacer_test

import (
	"fmt"
	"time"

	"github.com/hotpath-dev/hotpath/pacer"
)

// A sender 300ms into a 4 requests/s run: the first two requests are
// overdue (send now, latency still counts from their due time), the third
// is due in 200ms.
func ExampleWait() {
	p, _ := pacer.NewConstant(4)
	for hits := uint64(0); hits < 3; hits++ {
		due, wait, _ := pacer.Wait(p, 300*time.Millisecond, hits)
		fmt.Println(hits, due, wait)
	}
	// Output:
	// 0 0s 0s
	// 1 250ms 0s
	// 2 500ms 200ms
}
