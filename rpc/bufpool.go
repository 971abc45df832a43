package rpc

import (
	"fmt"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// bufferPool is the server's grpc-go buffer pool: grpc-go's default tiers
// (256 B, 4, 16, 32 KiB, then 1 MiB) plus every power of two from 64 KiB
// to 4 MiB (DefaultMaxMsgSize). The server reads into it
// (experimental.BufferPool) and codec encodes answers into it.
//
// Why: a message is encoded into the smallest tier that holds it, and an
// answer stays in that buffer for as long as it is queued behind the
// client's flow-control window. With the default tiers a 60 KB answer
// pins 1 MiB: a client that never opens its window held 18× what it sent
// (2026-12-07 hostile run: 400 calls × 60 KB → +434 MB). With these tiers
// a buffer is at most twice its content. Larger messages are allocated
// to size.
var bufferPool = func() mem.BufferPool {
	p, err := mem.NewBinaryTieredBufferPool(8, 12, 14, 15, 16, 17, 18, 19, 20, 21, 22)
	if err != nil {
		panic("hotpath: rpc buffer pool: " + err.Error()) // fixed tiers: a programmer mistake
	}
	return p
}()

// codec is the server's message codec (grpc.ForceServerCodecV2): protobuf,
// as grpc-go's registered "proto" codec, except that its buffers come from
// bufferPool. grpc-go's own codec always uses mem.DefaultBufferPool,
// whatever pool the server was given, and changing that default would
// change it for every grpc-go user in the process. Messages that are not
// protobuf v2 messages go to the registered codec.
type codec struct{ base encoding.CodecV2 }

func newCodec() codec {
	base := encoding.GetCodecV2("proto")
	if base == nil {
		panic("hotpath: rpc: grpc-go registers no proto codec") // import of grpc-go's proto codec missing
	}
	return codec{base: base}
}

func (codec) Name() string { return "proto" }

// marshalOpts encode a message whose size was just computed.
var marshalCached = proto.MarshalOptions{UseCachedSize: true}

// Marshal encodes v; messages above grpc-go's pooling threshold go into a
// buffer of bufferPool, which grpc-go frees once the bytes are written.
func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(proto.Message)
	if !ok { // a protoadapt.MessageV1, which the registered codec converts
		return c.base.Marshal(v)
	}
	size := proto.Size(m)
	if mem.IsBelowBufferPoolingThreshold(size) {
		b, err := marshalCached.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("proto: marshal %T: %w", v, err)
		}
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	buf := bufferPool.Get(size)
	out, err := marshalCached.MarshalAppend((*buf)[:0], m)
	if err != nil {
		bufferPool.Put(buf)
		return nil, fmt.Errorf("proto: marshal %T: %w", v, err)
	}
	*buf = out // the same array: size was exact
	return mem.BufferSlice{mem.NewBuffer(buf, bufferPool)}, nil
}

// Unmarshal decodes data into v, gathering a message that arrived in
// several frames into a buffer of bufferPool (grpc-go's codec takes one
// of the default pool's, 1 MiB for anything over 32 KiB) for the time of
// the decoding: proto.Unmarshal copies what it keeps.
func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return c.base.Unmarshal(data, v)
	}
	buf := data.MaterializeToBuffer(bufferPool)
	defer buf.Free()
	if err := proto.Unmarshal(buf.ReadOnlyData(), m); err != nil {
		return fmt.Errorf("proto: unmarshal %T: %w", v, err)
	}
	return nil
}
