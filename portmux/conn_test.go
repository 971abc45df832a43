package portmux

import (
	"bytes"
	"io"
	"net"
	"testing"
)

// readAllChunked reads c through the filter with reads of size chunk.
func filtered(t *testing.T, in []byte, replay int, chunk int) []byte {
	t.Helper()
	a, b := net.Pipe()
	go func() {
		_, _ = a.Write(in[replay:])
		_ = a.Close()
	}()
	c := &Conn{Conn: b, replay: append([]byte(nil), in[:replay]...)}
	c.dropAck = &ackFilter{c: c, pre: len(preface)}
	var out bytes.Buffer
	buf := make([]byte, chunk)
	for {
		n, err := c.Read(buf)
		out.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	_ = b.Close()
	return out.Bytes()
}

func TestAckFilterDropsFirstSettingsAck(t *testing.T) {
	settings := []byte{0, 0, 6, frameSettings, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 0}
	ack := []byte{0, 0, 0, frameSettings, flagAck, 0, 0, 0, 0}
	headers := []byte{0, 0, 3, frameHeaders, flagEndHeaders, 0, 0, 0, 1, 0x82, 0x86, 0x84}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	cases := []struct {
		name     string
		in, want []byte
	}{
		{"ack before headers", cat([]byte(preface), settings, ack, headers), cat([]byte(preface), settings, headers)},
		{"ack after headers", cat([]byte(preface), settings, headers, ack), cat([]byte(preface), settings, headers)},
		{"only the first ack goes", cat([]byte(preface), ack, headers, ack), cat([]byte(preface), headers, ack)},
		{"no ack: unchanged", cat([]byte(preface), settings, headers), cat([]byte(preface), settings, headers)},
	}
	for _, tc := range cases {
		for _, replay := range []int{0, 5, len(preface) + 3, len(tc.in)} {
			for _, chunk := range []int{1, 7, 4096} {
				got := filtered(t, tc.in, min(replay, len(tc.in)), chunk)
				if !bytes.Equal(got, tc.want) {
					t.Errorf("%s (replay %d, reads of %d): got %x, want %x", tc.name, replay, chunk, got, tc.want)
				}
			}
		}
	}
}
