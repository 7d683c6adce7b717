package codec

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Micro's other codecs, as gRPC content subtypes: text carries a string
// or bytes as they are (Micro's text/plain); jsonrpc wraps each message in
// a JSON-RPC 1.0 envelope (application/json-rpc) and protorpc in net/rpc's
// protobuf one (application/proto-rpc). The envelopes name the method and
// number the request; errors still travel as the gRPC status, as every
// micro error does, so a response envelope's error is always empty.
const (
	Text     = "text"
	JSONRPC  = "jsonrpc"
	ProtoRPC = "protorpc"
)

func init() {
	encoding.RegisterCodecV2(textCodec{})
	encoding.RegisterCodecV2(frameCodec(JSONRPC))
	encoding.RegisterCodecV2(frameCodec(ProtoRPC))
}

// Subtype names the codec of a call's content type, as Micro's client and
// server took them (parameters such as "; charset=utf-8" ignored); ok is
// false for a content type micro does not speak.
func Subtype(contentType string) (sub string, ok bool) {
	ct, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(contentType)), ";")
	ct = strings.TrimSpace(ct)
	switch ct {
	case "application/json", "application/grpc+json":
		return JSON, true
	case "application/grpc", "application/grpc+proto", "application/proto", "application/protobuf", "application/octet-stream":
		return Proto, true
	case "application/grpc+bytes":
		return Bytes, true
	case "text/plain", "application/grpc+text":
		return Text, true
	case "application/json-rpc", "application/grpc+jsonrpc":
		return JSONRPC, true
	case "application/proto-rpc", "application/grpc+protorpc":
		return ProtoRPC, true
	}
	if strings.HasPrefix(ct, "text/") { // Micro's text codec read any text/*
		return Text, true
	}
	return "", false
}

// ContentType is the content type Micro gave a subtype.
func ContentType(sub string) string {
	switch sub {
	case Text:
		return "text/plain"
	case JSONRPC:
		return "application/json-rpc"
	case ProtoRPC:
		return "application/proto-rpc"
	case Bytes:
		return "application/grpc+bytes"
	case JSON:
		return "application/json"
	}
	return "application/protobuf"
}

// Enveloped reports a subtype whose messages are wrapped in an envelope
// naming the method: the framework's client and server wrap them, the
// proxy and gateway forward them as frames.
func Enveloped(sub string) bool { return sub == JSONRPC || sub == ProtoRPC }

// MarshalText is a text message's bytes: a string, []byte or Frame.
func MarshalText(v any) ([]byte, error) {
	switch m := v.(type) {
	case *Frame:
		return m.Data, nil
	case []byte:
		return m, nil
	case *[]byte:
		return *m, nil
	case string:
		return []byte(m), nil
	case *string:
		return []byte(*m), nil
	}
	return nil, fmt.Errorf("text codec: cannot marshal %T, want a string or []byte", v)
}

// UnmarshalText reads a text message into a *string, *[]byte or *Frame.
func UnmarshalText(b []byte, v any) error {
	switch m := v.(type) {
	case *Frame:
		m.Data = b
	case *[]byte:
		*m = b
	case *string:
		*m = string(b)
	default:
		return fmt.Errorf("text codec: cannot unmarshal into %T, want *string or *[]byte", v)
	}
	return nil
}

type textCodec struct{}

func (textCodec) Name() string { return Text }

func (textCodec) Marshal(v any) (mem.BufferSlice, error) {
	b, err := MarshalText(v)
	if err != nil {
		return nil, err
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}

func (textCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return UnmarshalText(data.Materialize(), v)
}

// frameCodec carries the enveloped subtypes' frames: the envelope needs
// the method and sequence number, which only the framework knows, so it
// wraps them before the codec sees them (EncodeRequest, EncodeResponse).
type frameCodec string

func (c frameCodec) Name() string { return string(c) }

func (c frameCodec) Marshal(v any) (mem.BufferSlice, error) {
	if f, ok := v.(*Frame); ok {
		return mem.BufferSlice{mem.SliceBuffer(f.Data)}, nil
	}
	return nil, fmt.Errorf("%s codec: cannot marshal %T; the micro client wraps messages in the envelope", c, v)
}

func (c frameCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if f, ok := v.(*Frame); ok {
		f.Data = data.Materialize()
		return nil
	}
	return fmt.Errorf("%s codec: cannot unmarshal into %T; the micro client unwraps the envelope", c, v)
}

// Envelope is what an enveloped message says besides its body.
type Envelope struct {
	// Method is "Handler.Method" (JSON-RPC's method, net/rpc's
	// ServiceMethod).
	Method string
	// Seq numbers a client's requests; a response carries its request's.
	Seq uint64
	// ID is a JSON-RPC request's id as sent (any JSON value), echoed in
	// its responses; empty means Seq.
	ID json.RawMessage
	// Error is a response's error text (empty on success).
	Error string
}

// EncodeRequest wraps v, marshalled as sub's body, in a request envelope.
func EncodeRequest(sub string, env Envelope, v any) ([]byte, error) {
	switch sub {
	case JSONRPC:
		body, err := MarshalJSON(v)
		if err != nil {
			return nil, err
		}
		return json.Marshal(struct {
			Method string            `json:"method"`
			Params []json.RawMessage `json:"params"`
			ID     json.RawMessage   `json:"id"`
		}{env.Method, []json.RawMessage{jsonOrEmpty(body)}, env.id()})
	case ProtoRPC:
		return encodeProtoRPC(env, false, v)
	}
	return nil, fmt.Errorf("%q has no envelope", sub)
}

// DecodeRequest unwraps a request envelope into v and returns the
// envelope.
func DecodeRequest(sub string, data []byte, v any) (Envelope, error) {
	switch sub {
	case JSONRPC:
		var req struct {
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
			ID     json.RawMessage `json:"id"`
		}
		if err := json.Unmarshal(data, &req); err != nil {
			return Envelope{}, fmt.Errorf("not a JSON-RPC request: %v", err)
		}
		env := Envelope{Method: req.Method, ID: req.ID}
		// params is [request] (JSON-RPC 1.0), or, as Micro's gateway
		// took it, the request object itself; none is {} (a Frame too).
		params := bytes.TrimSpace(req.Params)
		switch {
		case len(params) == 0 || bytes.Equal(params, []byte("null")):
			return env, UnmarshalJSON([]byte("{}"), v)
		case params[0] == '{':
			return env, UnmarshalJSON(params, v)
		case params[0] == '[':
			var list []json.RawMessage
			if err := json.Unmarshal(params, &list); err != nil {
				return env, fmt.Errorf("params: %v", err)
			}
			switch len(list) {
			case 0:
				return env, UnmarshalJSON([]byte("{}"), v)
			case 1:
				return env, UnmarshalJSON(list[0], v)
			}
			return env, fmt.Errorf("a JSON-RPC request carries one param, the request message; this one has %d", len(list))
		}
		return env, fmt.Errorf("params must be [request] or a request object")
	case ProtoRPC:
		return decodeProtoRPC(data, false, v)
	}
	return Envelope{}, fmt.Errorf("%q has no envelope", sub)
}

// EncodeResponse wraps v in a response envelope answering env.
func EncodeResponse(sub string, env Envelope, v any) ([]byte, error) {
	switch sub {
	case JSONRPC:
		body, err := MarshalJSON(v)
		if err != nil {
			return nil, err
		}
		var e any
		if env.Error != "" {
			e = env.Error
		}
		return json.Marshal(struct {
			ID     json.RawMessage `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  any             `json:"error"`
		}{env.id(), jsonOrEmpty(body), e})
	case ProtoRPC:
		return encodeProtoRPC(env, true, v)
	}
	return nil, fmt.Errorf("%q has no envelope", sub)
}

// DecodeResponse unwraps a response envelope into v and returns the
// envelope; a response whose envelope carries an error returns it with
// Error set and v untouched.
func DecodeResponse(sub string, data []byte, v any) (Envelope, error) {
	switch sub {
	case JSONRPC:
		var rsp struct {
			ID     json.RawMessage `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  any             `json:"error"`
		}
		if err := json.Unmarshal(data, &rsp); err != nil {
			return Envelope{}, fmt.Errorf("not a JSON-RPC response: %v", err)
		}
		env := Envelope{ID: rsp.ID}
		if rsp.Error != nil {
			env.Error = fmt.Sprint(rsp.Error)
			return env, nil
		}
		return env, UnmarshalJSON(rsp.Result, v)
	case ProtoRPC:
		return decodeProtoRPC(data, true, v)
	}
	return Envelope{}, fmt.Errorf("%q has no envelope", sub)
}

func (e Envelope) id() json.RawMessage {
	if len(e.ID) > 0 {
		return e.ID
	}
	return json.RawMessage(fmt.Sprint(e.Seq))
}

func jsonOrEmpty(b []byte) json.RawMessage {
	if len(bytes.TrimSpace(b)) == 0 {
		return json.RawMessage("{}")
	}
	return b
}

// net/rpc's protobuf framing, as Micro's protorpc codec wrote it: a header
// message (service_method = 1, seq = 2 as fixed64, and on a response
// error = 3), then the body message, each after its length as a 4-byte
// big-endian number.

func encodeProtoRPC(env Envelope, response bool, v any) ([]byte, error) {
	var body []byte
	switch m := v.(type) {
	case *Frame:
		body = m.Data
	case proto.Message:
		b, err := proto.Marshal(m)
		if err != nil {
			return nil, err
		}
		body = b
	default:
		return nil, fmt.Errorf("protorpc codec: %T is not a protobuf message", v)
	}
	var hdr []byte
	if env.Method != "" {
		hdr = protowire.AppendTag(hdr, 1, protowire.BytesType)
		hdr = protowire.AppendString(hdr, env.Method)
	}
	if env.Seq != 0 {
		hdr = protowire.AppendTag(hdr, 2, protowire.Fixed64Type)
		hdr = protowire.AppendFixed64(hdr, env.Seq)
	}
	if response && env.Error != "" {
		hdr = protowire.AppendTag(hdr, 3, protowire.BytesType)
		hdr = protowire.AppendString(hdr, env.Error)
	}
	out := make([]byte, 0, 8+len(hdr)+len(body))
	out = binary.BigEndian.AppendUint32(out, uint32(len(hdr)))
	out = append(out, hdr...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(body)))
	return append(out, body...), nil
}

func decodeProtoRPC(data []byte, response bool, v any) (Envelope, error) {
	hdr, rest, err := netString(data)
	if err != nil {
		return Envelope{}, fmt.Errorf("protorpc header: %v", err)
	}
	body, rest, err := netString(rest)
	if err != nil {
		return Envelope{}, fmt.Errorf("protorpc body: %v", err)
	}
	if len(rest) != 0 {
		return Envelope{}, fmt.Errorf("protorpc: %d bytes after the body", len(rest))
	}
	var env Envelope
	for len(hdr) > 0 {
		num, typ, n := protowire.ConsumeTag(hdr)
		if n < 0 {
			return Envelope{}, fmt.Errorf("protorpc header: %v", protowire.ParseError(n))
		}
		hdr = hdr[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			env.Method, n = protowire.ConsumeString(hdr)
		case num == 2 && typ == protowire.Fixed64Type:
			env.Seq, n = protowire.ConsumeFixed64(hdr)
		case num == 3 && typ == protowire.BytesType && response:
			env.Error, n = protowire.ConsumeString(hdr)
		default:
			n = protowire.ConsumeFieldValue(num, typ, hdr)
		}
		if n < 0 {
			return Envelope{}, fmt.Errorf("protorpc header: %v", protowire.ParseError(n))
		}
		hdr = hdr[n:]
	}
	if env.Error != "" {
		return env, nil
	}
	switch m := v.(type) {
	case *Frame:
		m.Data = body
		return env, nil
	case proto.Message:
		return env, proto.Unmarshal(body, m)
	}
	return env, fmt.Errorf("protorpc codec: %T is not a protobuf message", v)
}

// netString splits a 4-byte big-endian length and that many bytes off b.
func netString(b []byte) (data, rest []byte, err error) {
	if len(b) < 4 {
		return nil, nil, fmt.Errorf("%d bytes, want a 4-byte length", len(b))
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return nil, nil, fmt.Errorf("length %d, but %d bytes follow", n, len(b)-4)
	}
	return b[4 : 4+n], b[4+n:], nil
}
