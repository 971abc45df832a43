package h2raw

import (
	"time"

	"golang.org/x/net/http2"
)

// A FloodFunc writes the i-th unit (i = 0, 1, …) of a flood with fr.
// block is a complete request header block that floods opening streams
// repeat; encode it with a fresh hpack.Encoder, so that it does not depend
// on the connection's dynamic table.
type FloodFunc func(fr *http2.Framer, block []byte, i int) error

// The floods a server must cut off, each a FloodFunc.
var (
	// SettingsFlood: empty SETTINGS frames.
	SettingsFlood FloodFunc = func(fr *http2.Framer, _ []byte, _ int) error { return fr.WriteSettings() }
	// PingFlood: PINGs, each with its unit's number in the first byte.
	PingFlood FloodFunc = func(fr *http2.Framer, _ []byte, i int) error { return fr.WritePing(false, [8]byte{byte(i)}) }
	// RapidReset: HEADERS then RST_STREAM(CANCEL), on streams 3, 5, 7, ….
	RapidReset FloodFunc = func(fr *http2.Framer, block []byte, i int) error {
		id := uint32(2*i + 3)
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndHeaders: true}); err != nil {
			return err
		}
		return fr.WriteRSTStream(id, http2.ErrCodeCancel)
	}
	// ContinuationFlood: a HEADERS frame on stream 101 with the block's
	// first byte and no END_HEADERS, then empty CONTINUATION frames.
	ContinuationFlood FloodFunc = func(fr *http2.Framer, block []byte, i int) error {
		if i == 0 {
			return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 101, BlockFragment: block[:1]})
		}
		return fr.WriteContinuation(101, false, nil)
	}
	// EmptyDataFlood: a call on stream 201 whose body never comes, only
	// empty DATA frames.
	EmptyDataFlood FloodFunc = func(fr *http2.Framer, block []byte, i int) error {
		if i == 0 {
			return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 201, BlockFragment: block, EndHeaders: true})
		}
		return fr.WriteData(201, false, nil)
	}
)

// Flood writes fn's units 0, 1, … in one Write call (so no SETTINGS ACK
// splits a HEADERS from its CONTINUATIONs) until a write fails (the server
// closed the connection, or the write deadline passed), limit units were
// written, or stop is closed (nil: never); it returns how many units it
// wrote. It sets a write deadline of d first. It may run in a goroutine
// of its own while the test reads with Next or Await.
func (c *Conn) Flood(fn FloodFunc, block []byte, limit int, stop <-chan struct{}, d time.Duration) int {
	_ = c.nc.SetWriteDeadline(time.Now().Add(d))
	n := 0
	_ = c.Write(func(fr *http2.Framer) error {
		for ; n < limit; n++ {
			select {
			case <-stop:
				return nil
			default:
			}
			if err := fn(fr, block, n); err != nil {
				return err
			}
		}
		return nil
	})
	return n
}
