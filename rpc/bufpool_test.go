package rpc

import (
	"bytes"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	hotpathv1 "github.com/hotpath-dev/hotpath/proto/hotpath/v1"
)

// The codec round-trips messages below and above the pooling threshold,
// from one buffer or from several (a message over many DATA frames), and
// encodes a large one into a buffer of its own size's tier, not 1 MiB.
func TestCodecRoundTrip(t *testing.T) {
	c := newCodec()
	for _, size := range []int{0, 100, 60 << 10, 300 << 10} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(i * 7)
		}
		in := &hotpathv1.EchoRequest{Message: "m", Data: data}
		enc, err := c.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		wire := enc.Materialize()
		if want, _ := proto.Marshal(in); !bytes.Equal(wire, want) {
			t.Fatalf("%d bytes: encoding differs from proto.Marshal", size)
		}
		if n := len(wire); n > 32<<10 { // pooled: the buffer is the next power of two
			if got := cap(enc[0].ReadOnlyData()); got >= 2*n {
				t.Errorf("%d-byte encoding in a %d-byte buffer, want < %d", n, got, 2*n)
			}
		}
		enc.Free()
		for _, pieces := range []int{1, 3} {
			var slice mem.BufferSlice
			step := max(1, (len(wire)+pieces-1)/pieces)
			for b := wire; len(b) > 0; b = b[min(step, len(b)):] {
				slice = append(slice, mem.SliceBuffer(b[:min(step, len(b))]))
			}
			out := &hotpathv1.EchoRequest{}
			if err := c.Unmarshal(slice, out); err != nil {
				t.Fatalf("%d bytes in %d pieces: %v", size, pieces, err)
			}
			if !proto.Equal(in, out) {
				t.Fatalf("%d bytes in %d pieces: round trip differs", size, pieces)
			}
		}
	}
}
