package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
)

// Error classes counted in report.Result.ErrorClasses.
const (
	ClassConnect  = "connect"  // the connection could not be made
	ClassTimeout  = "timeout"  // the request exceeded Config.Timeout
	ClassReset    = "reset"    // the server closed or reset the connection mid-request
	ClassProtocol = "protocol" // the response was not valid for the protocol
	ClassOther    = "other"
)

var classes = [...]string{ClassConnect, ClassTimeout, ClassReset, ClassProtocol, ClassOther}

const (
	idxConnect = iota
	idxTimeout
	idxReset
	idxProtocol
	idxOther
)

// errExpired is the Outcome.Err of an open-loop request that was not sent
// because the run had ended and it was already overdue by the request
// timeout (see schedule.take). It is a timeout.
var errExpired = fmt.Errorf("not sent: overdue by the request timeout after the end of the run: %w", context.DeadlineExceeded)

// Classify names the class of a transport error returned in an Outcome.
func Classify(err error) string { return classes[classify(err)] }

func classify(err error) int {
	var ce *connectError
	var ne net.Error
	switch {
	case errors.As(err, &ce):
		return idxConnect
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return idxTimeout
	case errors.Is(err, errProtocol):
		return idxProtocol
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		return idxReset
	}
	return idxOther
}
