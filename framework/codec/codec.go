// Package codec registers micro's gRPC codecs, chosen by content subtype as
// in Micro: application/grpc and +proto carry protobuf, +json carries JSON
// (protojson with proto field names and every field emitted), +bytes carries
// raw bytes, and (rpc.go) +text a string as it is and +jsonrpc, +protorpc
// JSON and protobuf in Micro's RPC envelopes.
//
// Each codec passes a *Frame through untouched, so the proxy and the gateway
// forward messages without decoding them, whatever their encoding.
//
// Importing this package (for its side effect) is what makes a process speak
// those encodings; every micro server and client does.
package codec

import (
	"bytes"
	"encoding/json"
	"fmt"

	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the default proto codec we wrap
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Frame is one encoded message, forwarded without decoding.
type Frame struct {
	Data []byte
}

// MarshalJSON makes a Frame of JSON embed as is in other JSON.
func (f *Frame) MarshalJSON() ([]byte, error) {
	if len(f.Data) == 0 {
		return []byte("{}"), nil
	}
	return f.Data, nil
}

// MaxMessageSize bounds one gRPC message each way (32 MiB, as in Micro): the
// one limit every micro server, proxy and client is built with.
const MaxMessageSize = 32 << 20

// Content subtypes, as gRPC names them (application/grpc+<subtype>).
const (
	Proto = "proto"
	JSON  = "json"
	Bytes = "bytes"
)

// JSONMarshal is the one JSON form of proto messages on micro's wires.
var JSONMarshal = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}

// JSONUnmarshal accepts unknown fields, as Micro's jsonpb did, so clients
// written against newer APIs still work.
var JSONUnmarshal = protojson.UnmarshalOptions{DiscardUnknown: true}

func init() {
	encoding.RegisterCodecV2(protoCodec{base: encoding.GetCodecV2(Proto)})
	encoding.RegisterCodecV2(jsonCodec{})
	encoding.RegisterCodecV2(bytesCodec{})
}

type protoCodec struct{ base encoding.CodecV2 }

func (c protoCodec) Name() string { return Proto }

func (c protoCodec) Marshal(v any) (mem.BufferSlice, error) {
	if f, ok := v.(*Frame); ok {
		return mem.BufferSlice{mem.SliceBuffer(f.Data)}, nil
	}
	return c.base.Marshal(v)
}

func (c protoCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if f, ok := v.(*Frame); ok {
		f.Data = data.Materialize()
		return nil
	}
	return c.base.Unmarshal(data, v)
}

type jsonCodec struct{}

func (jsonCodec) Name() string { return JSON }

func (jsonCodec) Marshal(v any) (mem.BufferSlice, error) {
	b, err := MarshalJSON(v)
	if err != nil {
		return nil, err
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}

func (jsonCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return UnmarshalJSON(data.Materialize(), v)
}

// MarshalJSON encodes v as micro's JSON: protojson for proto messages (made
// compact, since protojson's spacing is deliberately unstable), encoding/json
// for plain Go values, a Frame as is.
func MarshalJSON(v any) ([]byte, error) {
	switch m := v.(type) {
	case *Frame:
		return m.Data, nil
	case proto.Message:
		b, err := JSONMarshal.Marshal(m)
		if err != nil {
			return nil, err
		}
		return compact(b), nil
	default:
		return json.Marshal(v)
	}
}

// UnmarshalJSON decodes micro's JSON into v. An empty body decodes as {}.
func UnmarshalJSON(b []byte, v any) error {
	if f, ok := v.(*Frame); ok {
		f.Data = b
		return nil
	}
	if len(bytes.TrimSpace(b)) == 0 {
		b = []byte("{}")
	}
	if m, ok := v.(proto.Message); ok {
		return JSONUnmarshal.Unmarshal(b, m)
	}
	return json.Unmarshal(b, v)
}

type bytesCodec struct{}

func (bytesCodec) Name() string { return Bytes }

func (bytesCodec) Marshal(v any) (mem.BufferSlice, error) {
	switch m := v.(type) {
	case *Frame:
		return mem.BufferSlice{mem.SliceBuffer(m.Data)}, nil
	case *[]byte:
		return mem.BufferSlice{mem.SliceBuffer(*m)}, nil
	case []byte:
		return mem.BufferSlice{mem.SliceBuffer(m)}, nil
	}
	return nil, fmt.Errorf("bytes codec: cannot marshal %T, want *codec.Frame or []byte", v)
}

func (bytesCodec) Unmarshal(data mem.BufferSlice, v any) error {
	switch m := v.(type) {
	case *Frame:
		m.Data = data.Materialize()
		return nil
	case *[]byte:
		*m = data.Materialize()
		return nil
	}
	return fmt.Errorf("bytes codec: cannot unmarshal into %T, want *codec.Frame or *[]byte", v)
}

// compact drops the whitespace outside strings from JSON that protojson
// wrote, in place: what json.Compact does to valid JSON, at a fraction of
// its cost (json.Compact was a fifth of encoding a store record's answer).
// protojson adds at most a space after a comma, and only in some builds.
func compact(b []byte) []byte {
	w := 0
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case ' ', '\t', '\n', '\r':
		case '"':
			end := stringEnd(b, i)
			w += copy(b[w:], b[i:end+1])
			i = end
		default:
			b[w] = c
			w++
		}
	}
	return b[:w]
}

// stringEnd is the index of the quote closing the string opened at open:
// the first quote after it preceded by an even number of backslashes (the
// last byte when there is none).
func stringEnd(b []byte, open int) int {
	for i := open + 1; i < len(b); i++ {
		k := bytes.IndexByte(b[i:], '"')
		if k < 0 {
			break
		}
		i += k
		escapes := 0
		for j := i - 1; j > open && b[j] == '\\'; j-- {
			escapes++
		}
		if escapes%2 == 0 {
			return i
		}
	}
	return len(b) - 1
}
