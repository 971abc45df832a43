package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
)

// Format is what an event must be, and how it is stored: the seed's
// "format transform" stage (§2.4). Its zero value is FormatRaw.
type Format int

const (
	// FormatRaw takes any non-empty bytes and stores them as sent.
	FormatRaw Format = iota
	// FormatJSON takes one JSON value (RFC 8259; surrounding whitespace
	// allowed) and stores it compacted (encoding/json.Compact: whitespace
	// outside strings removed; nothing else changes, no decoding into Go
	// values). Anything else is ErrInvalidJSON.
	FormatJSON
)

// String returns "raw" or "json", the names ParseFormat accepts.
func (f Format) String() string {
	switch f {
	case FormatRaw:
		return "raw"
	case FormatJSON:
		return "json"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// ParseFormat parses "raw" or "json" (the --ingest-format flag's values).
func ParseFormat(s string) (Format, error) {
	switch s {
	case "raw":
		return FormatRaw, nil
	case "json":
		return FormatJSON, nil
	}
	return 0, fmt.Errorf("ingest: unknown event format %q (want raw or json)", s)
}

// ErrInvalidJSON is wrapped, with encoding/json's syntax error, by Submit
// and CompactJSON for an event that is not one JSON value (with
// FormatJSON). The event was not stored.
var ErrInvalidJSON = errors.New("ingest: event is not one JSON value")

// CompactJSON appends event, which must be one JSON value, to dst without
// insignificant whitespace (encoding/json.Compact) and returns the
// extended buffer. If event is not one JSON value it returns dst
// unchanged and an error wrapping ErrInvalidJSON and the syntax error.
// Invalid UTF-8 inside strings is kept as is (encoding/json's scanner
// accepts it).
func CompactJSON(dst *bytes.Buffer, event []byte) error {
	if err := json.Compact(dst, event); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidJSON, err)
	}
	return nil
}

// jsonPool holds the buffers Submit compacts events into with FormatJSON;
// a buffer stays with one Submit until it returns (the batcher never reads
// an event after that).
var jsonPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledJSON is the largest buffer put back in jsonPool: an outsized
// event's buffer is left to the GC rather than kept.
const maxPooledJSON = 256 << 10

func putJSONBuffer(b *bytes.Buffer) {
	if b.Cap() > maxPooledJSON {
		return
	}
	b.Reset()
	jsonPool.Put(b)
}
