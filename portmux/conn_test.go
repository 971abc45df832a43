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

// FuzzAckFilter: the filter's output does not depend on how the stream is
// cut into reads, and it removes at most one 9-byte frame.
func FuzzAckFilter(f *testing.F) {
	f.Add([]byte(preface+"\x00\x00\x00\x04\x01\x00\x00\x00\x00\x00\x00\x03\x01\x04\x00\x00\x00\x01abc"), uint8(3))
	f.Add([]byte(preface+"\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x04\x00\x01\x00\x00"), uint8(1))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		run := func(step int) []byte {
			fl := &ackFilter{pre: len(preface)}
			for b := in; len(b) > 0; {
				n := min(step, len(b))
				fl.feed(b[:n])
				b = b[n:]
			}
			return append(fl.pending, fl.head...) // head: a frame header still incomplete
		}
		whole := run(len(in) + 1)
		cut := run(int(chunk%16) + 1)
		if !bytes.Equal(whole, cut) {
			t.Fatalf("chunking changes the output: %x vs %x", whole, cut)
		}
		if d := len(in) - len(whole); d != 0 && d != frameHeaderLen {
			t.Fatalf("removed %d bytes, want 0 or %d", d, frameHeaderLen)
		}
	})
}

// Conn passes CloseWrite and ReadFrom through to a TCP connection.
func TestConnPassesThroughTCPFeatures(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		s, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer s.Close()
		b, _ := io.ReadAll(s) // ends at the client's CloseWrite
		got <- b
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := &Conn{Conn: raw}
	defer c.Close()
	if n, err := c.ReadFrom(bytes.NewReader([]byte("hello"))); err != nil || n != 5 {
		t.Fatalf("ReadFrom = %d, %v", n, err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}
	if b := <-got; string(b) != "hello" {
		t.Errorf("peer read %q, want hello then EOF", b)
	}
	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	if err := (&Conn{Conn: p1}).CloseWrite(); err == nil {
		t.Error("CloseWrite on a pipe: want an error")
	}
}
