package ingest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
)

// Status maps Submit's result to the HTTP answer every engine gives:
//
//	nil                                        202
//	ErrEmpty, ErrInvalidJSON                   400
//	ErrTooLarge                                413
//	ErrQueueFull, ErrSinkUnavailable, ErrClosed 503, Retry-After: 1
//	context.Canceled, context.DeadlineExceeded 503, Retry-After: 1 (client gone or timed out)
//	anything else                              500
//
// retryAfter is the Retry-After header value, "" when none is sent.
func Status(err error) (status int, retryAfter string) {
	switch {
	case err == nil:
		return http.StatusAccepted, ""
	case errors.Is(err, ErrEmpty), errors.Is(err, ErrInvalidJSON):
		return http.StatusBadRequest, ""
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge, ""
	case errors.Is(err, ErrQueueFull), errors.Is(err, ErrSinkUnavailable), errors.Is(err, ErrClosed),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "1"
	}
	return http.StatusInternalServerError, ""
}

// AppendAccepted appends the 202 body for p to dst and returns the extended
// slice: exactly {"offset":N} and a newline. Use it for sinks without
// partitions (the file log); (*Batcher).AppendAccepted chooses for you.
func AppendAccepted(dst []byte, p Position) []byte {
	dst = append(dst, `{"offset":`...)
	dst = strconv.AppendInt(dst, p.Offset, 10)
	return append(dst, "}\n"...)
}

// AppendAcceptedPartition appends {"partition":P,"offset":N} and a newline:
// the 202 body for partitioned sinks (Kafka).
func AppendAcceptedPartition(dst []byte, p Position) []byte {
	dst = append(dst, `{"partition":`...)
	dst = strconv.AppendInt(dst, int64(p.Partition), 10)
	dst = append(dst, `,"offset":`...)
	dst = strconv.AppendInt(dst, p.Offset, 10)
	return append(dst, "}\n"...)
}

// AppendAccepted appends the 202 body for p: with the partition when the
// sink is partitioned (see Partitioner), without otherwise.
func (b *Batcher) AppendAccepted(dst []byte, p Position) []byte {
	if b.partitioned {
		return AppendAcceptedPartition(dst, p)
	}
	return AppendAccepted(dst, p)
}

// AppendError appends the refusal body for err to dst: {"error":"<short
// message>"} and a newline. The message is one of a fixed set (never the
// sink's error text, which stays in the logs and metrics), so it needs no
// escaping and leaks nothing.
func AppendError(dst []byte, err error) []byte {
	dst = append(dst, `{"error":"`...)
	dst = append(dst, errorMessage(err)...)
	return append(dst, "\"}\n"...)
}

func errorMessage(err error) string {
	switch {
	case err == nil:
		return "none"
	case errors.Is(err, ErrEmpty):
		return "empty event"
	case errors.Is(err, ErrInvalidJSON):
		return "event is not valid JSON"
	case errors.Is(err, ErrTooLarge):
		return "event too large"
	case errors.Is(err, ErrQueueFull):
		return "ingest queue full, retry later"
	case errors.Is(err, ErrSinkUnavailable):
		return "sink unavailable, retry later"
	case errors.Is(err, ErrClosed):
		return "shutting down, retry later"
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out before the event was stored"
	case errors.Is(err, context.Canceled):
		return "request cancelled"
	case errors.Is(err, errReadBody):
		return "could not read the request body"
	}
	return "internal error"
}

var errReadBody = errors.New("ingest: reading the request body")

// bodyPool holds request-body buffers of the Handler; a buffer stays with
// one request until Submit has returned and the response is written.
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// respPool holds response-body buffers (short JSON lines).
var respPool = sync.Pool{New: func() any { b := make([]byte, 0, 64); return &b }}

// Handler serves POST /ingest on net/http: the body is one event. It answers
// per Status with a JSON body (AppendAccepted or AppendError) and
// Content-Type application/json. A body over Config.MaxEventBytes is 413
// without reading more than MaxEventBytes+1 bytes of it (at once when the
// Content-Length says so); a body that cannot be read is 400. The method is
// not checked: register it with a pattern such as "POST /ingest".
func Handler(b *Batcher) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := b.cfg.MaxEventBytes
		var err error
		var pos Position
		if r.ContentLength > int64(limit) {
			b.m.tooLarge.Inc()
			err = ErrTooLarge
		} else {
			bp := bodyPool.Get().(*[]byte)
			var body []byte
			body, err = readLimited((*bp)[:0], r.Body, limit+1)
			if err != nil && isMaxBytes(err) {
				// A server-wide body limit below ours cut the body off.
				b.m.tooLarge.Inc()
				err = ErrTooLarge
			}
			if err == nil {
				// Submit answers ErrTooLarge (and counts it) for limit+1 bytes.
				pos, err = b.Submit(r.Context(), body)
			}
			*bp = body[:0]
			bodyPool.Put(bp)
		}
		rp := respPool.Get().(*[]byte)
		status, retryAfter := Status(err)
		if err != nil && errors.Is(err, errReadBody) {
			status = http.StatusBadRequest
		}
		var out []byte
		if err == nil {
			out = b.AppendAccepted((*rp)[:0], pos)
		} else {
			out = AppendError((*rp)[:0], err)
		}
		h := w.Header()
		h["Content-Type"] = contentTypeJSON
		if retryAfter != "" {
			h["Retry-After"] = retryAfterOne
		}
		w.WriteHeader(status)
		_, _ = w.Write(out) // the client is gone if this fails; nothing to do
		*rp = out[:0]
		respPool.Put(rp)
	})
}

// Header values shared by every response; net/http does not modify them.
var (
	contentTypeJSON = []string{"application/json"}
	retryAfterOne   = []string{"1"}
)

// isMaxBytes reports whether err comes from an http.MaxBytesReader. Out of
// line: errors.As's target escapes, so the success path does not pay for it.
func isMaxBytes(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

// readLimited appends at most n bytes of r to dst.
func readLimited(dst []byte, r io.Reader, n int) ([]byte, error) {
	for len(dst) < n {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)] // grow
		}
		m, err := r.Read(dst[len(dst):min(cap(dst), n)])
		dst = dst[:len(dst)+m]
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, errors.Join(errReadBody, err)
		}
	}
	return dst, nil
}
