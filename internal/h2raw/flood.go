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

// Flood is a FloodFunc with a name for subtests.
type Flood struct {
	Name  string
	Write FloodFunc
}

// Floods are the floods every HTTP/2 port of hotpath's must cut off with
// GOAWAY(ENHANCE_YOUR_CALM) whatever the request they follow.
// EmptyDataFlood is not among them: after a request the server has already
// answered, net/http may close the connection itself (DATA on a closed
// stream) before the guard's budget runs out.
var Floods = []Flood{
	{"SETTINGS", SettingsFlood},
	{"PING", PingFlood},
	{"rapid reset", RapidReset},
	{"empty CONTINUATION", ContinuationFlood},
}

// UntilClosed takes frames until the connection ends or d passes, and
// reports whether one was a GOAWAY with ENHANCE_YOUR_CALM (the flood
// guard's cut-off) and how the reading ended: the connection's error, or,
// when d passed first, an error whose Timeout() is true.
func (c *Conn) UntilClosed(d time.Duration) (calm bool, err error) {
	deadline := time.Now().Add(d)
	for {
		f, err := c.Next(time.Until(deadline))
		if err != nil {
			return calm, err
		}
		if ga, ok := f.(*http2.GoAwayFrame); ok && ga.ErrCode == http2.ErrCodeEnhanceYourCalm {
			calm = true
		}
	}
}
