// Package httpstatus maps gRPC status codes to the HTTP statuses that stand
// for them, following google.rpc.Code's documented HTTP mapping (as
// grpc-gateway does). It is a leaf: it imports no other hotpath package, so
// a client such as the load generator can report a gRPC call as an HTTP
// status without linking the gRPC server, its middleware or Prometheus.
package httpstatus

import (
	"net/http"

	"google.golang.org/grpc/codes"
)

// FromCode returns the HTTP status for gRPC code c: the status the gateway
// answers a failed call with, and the one the load generator records for a
// call that ended with c. OK maps to 200, Canceled to 499 (client closed
// request), and Unknown, Internal, DataLoss and codes this table does not
// know map to 500. It is a pure function, safe for concurrent use.
func FromCode(c codes.Code) int {
	switch c {
	case codes.OK:
		return http.StatusOK
	case codes.Canceled:
		return 499 // client closed request
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case codes.NotFound:
		return http.StatusNotFound
	case codes.AlreadyExists, codes.Aborted:
		return http.StatusConflict
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Unimplemented:
		return http.StatusNotImplemented
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	default: // Unknown, Internal, DataLoss and codes this table does not know
		return http.StatusInternalServerError
	}
}
