package portmux

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"

	"golang.org/x/net/http2/hpack"
)

// preface is the HTTP/2 client connection preface.
const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// HTTP/2 frame types and flags the sniffer reads (RFC 9113 §6).
const (
	frameHeaders      = 0x1
	frameSettings     = 0x4
	frameGoAway       = 0x7
	frameContinuation = 0x9

	flagAck        = 0x1
	flagEndHeaders = 0x4
	flagPadded     = 0x8
	flagPriority   = 0x20

	frameHeaderLen = 9

	errHTTP11Required = 0xd // GOAWAY error code (RFC 9113 §7)
	// maxFrameSize is the frame size a client may send before it has seen
	// the server's SETTINGS: the protocol's initial SETTINGS_MAX_FRAME_SIZE.
	maxFrameSize = 1 << 14
)

// verdict is the sniffer's decision about a connection.
type verdict int

const (
	needMore  verdict = iota // not enough bytes yet
	routeHTTP                // anything but gRPC: HTTP/1.x, h2c, TLS-terminated HTTP/2
	routeGRPC                // HTTP/2 whose first request has content-type application/grpc[+…|;…]
	// routeEither: HTTP/2 that sent a frame other than SETTINGS or
	// WINDOW_UPDATE before its first request (a PING, a PRIORITY…): the
	// client expects an answer before it asks for anything, so the
	// connection goes to the fallback server at once.
	routeEither
)

func (v verdict) String() string {
	switch v {
	case routeHTTP:
		return "http"
	case routeGRPC:
		return "grpc"
	case routeEither:
		return "either"
	}
	return "need-more"
}

// errHeaderBlock marks a first HEADERS frame whose HPACK block is malformed;
// the connection goes to HTTP, whose server answers the protocol error.
var errHeaderBlock = errors.New("portmux: malformed HPACK header block in first HEADERS frame")

// sniffed is what sniff read from the start of a connection.
type sniffed struct {
	preface bool // b starts with the complete HTTP/2 preface
	acked   bool // the client sent a SETTINGS ACK (of portmux's stand-in SETTINGS)
}

// sniff decides where a connection goes from its first bytes b. It is a pure
// function of b: needMore means the decision needs more bytes. Anything that
// is not a well-formed HTTP/2 start is routeHTTP, so the HTTP server reports
// protocol errors as it would without the mux; HTTP/2 whose first request
// is gRPC is routeGRPC, any other first request routeHTTP, and a frame other
// than SETTINGS or WINDOW_UPDATE before the first request routeEither.
func sniff(b []byte) (v verdict, st sniffed) {
	n := min(len(b), len(preface))
	if !bytes.Equal(b[:n], []byte(preface[:n])) {
		return routeHTTP, st
	}
	if len(b) < len(preface) {
		return needMore, st
	}
	st.preface = true
	b = b[len(preface):]
	var block []byte  // HEADERS block fragments gathered so far
	var stream uint32 // stream of the HEADERS being gathered; 0: none
	for {
		if len(b) < frameHeaderLen {
			return needMore, st
		}
		length := int(b[0])<<16 | int(b[1])<<8 | int(b[2])
		typ, flags := b[3], b[4]
		id := binary.BigEndian.Uint32(b[5:9]) & 0x7fffffff
		if length > maxFrameSize {
			return routeHTTP, st
		}
		if len(b) < frameHeaderLen+length {
			return needMore, st
		}
		payload := b[frameHeaderLen : frameHeaderLen+length]
		b = b[frameHeaderLen+length:]

		switch {
		case stream != 0: // only CONTINUATION of the same stream may follow HEADERS
			if typ != frameContinuation || id != stream {
				return routeHTTP, st
			}
			block = append(block, payload...)
		case typ == frameHeaders:
			if id == 0 {
				return routeHTTP, st
			}
			frag, ok := headersFragment(payload, flags)
			if !ok {
				return routeHTTP, st
			}
			stream = id
			block = append(block[:0], frag...)
		case typ == frameSettings:
			if flags&flagAck != 0 {
				st.acked = true
			}
			continue
		case typ == frameWindowUpdate:
			continue
		default: // PING, PRIORITY, RST_STREAM…: the client wants the server now
			return routeEither, st
		}
		if flags&flagEndHeaders != 0 {
			ct, err := contentType(block)
			if err != nil {
				return routeHTTP, st
			}
			if IsGRPC(ct) {
				return routeGRPC, st
			}
			return routeHTTP, st
		}
	}
}

// headersFragment strips padding and priority fields from a HEADERS payload.
func headersFragment(p []byte, flags byte) ([]byte, bool) {
	pad := 0
	if flags&flagPadded != 0 {
		if len(p) < 1 {
			return nil, false
		}
		pad = int(p[0])
		p = p[1:]
	}
	if flags&flagPriority != 0 {
		if len(p) < 5 {
			return nil, false
		}
		p = p[5:]
	}
	if pad > len(p) {
		return nil, false
	}
	return p[:len(p)-pad], true
}

// contentType decodes an HPACK header block and returns its content-type
// ("" if none). Uses x/net's HPACK decoder with its default 4 KiB table.
func contentType(block []byte) (string, error) {
	var ct string
	d := hpack.NewDecoder(4096, func(f hpack.HeaderField) {
		if f.Name == "content-type" && ct == "" {
			ct = f.Value
		}
	})
	d.SetMaxStringLength(len(block) * 8 / 5) // Huffman decoding expands at most 8/5
	if _, err := d.Write(block); err != nil {
		return "", errors.Join(errHeaderBlock, err)
	}
	if err := d.Close(); err != nil {
		return "", errors.Join(errHeaderBlock, err)
	}
	return ct, nil
}

// IsGRPC reports whether a content-type is gRPC's as grpc-go serves it:
// application/grpc, optionally with "+codec" or parameters. gRPC-Web is not
// served by grpc-go and goes to HTTP.
func IsGRPC(ct string) bool {
	const base = "application/grpc"
	if len(ct) < len(base) || !strings.EqualFold(ct[:len(base)], base) {
		return false
	}
	rest := ct[len(base):]
	return rest == "" || rest[0] == '+' || rest[0] == ';'
}
