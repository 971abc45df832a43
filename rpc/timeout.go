package rpc

import (
	"fmt"
	"strconv"
	"time"
)

// parseTimeout parses a gRPC timeout ("grpc-timeout" header): 1 to 8 ASCII
// digits followed by one unit: H, M, S, m (milli), u (micro), n (nano).
// Hand-written because grpc-go keeps its parser internal.
func parseTimeout(s string) (time.Duration, error) {
	if len(s) < 2 || len(s) > 9 {
		return 0, fmt.Errorf("grpc-timeout %q: want 1-8 digits and a unit (H M S m u n)", s)
	}
	var unit time.Duration
	switch s[len(s)-1] {
	case 'H':
		unit = time.Hour
	case 'M':
		unit = time.Minute
	case 'S':
		unit = time.Second
	case 'm':
		unit = time.Millisecond
	case 'u':
		unit = time.Microsecond
	case 'n':
		unit = time.Nanosecond
	default:
		return 0, fmt.Errorf("grpc-timeout %q: unknown unit %q", s, s[len(s)-1])
	}
	digits := s[:len(s)-1]
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, fmt.Errorf("grpc-timeout %q: not a decimal number", s)
		}
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("grpc-timeout %q: %w", s, err)
	}
	// 8 digits of hours (~11,400 years) overflow Duration; cap at the maximum.
	if n > int64((1<<63-1)/unit) {
		return time.Duration(1<<63 - 1), nil
	}
	return time.Duration(n) * unit, nil
}
