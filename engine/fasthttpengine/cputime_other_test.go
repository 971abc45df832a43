//go:build !unix

package fasthttpengine

import (
	"testing"
	"time"
)

// processCPU is not measured on this platform; cpu-ns/op then reads 0.
func processCPU(testing.TB) time.Duration { return 0 }
