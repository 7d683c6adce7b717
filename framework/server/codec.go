package server

import (
	"context"
	"reflect"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"micro.dev/micro/framework/codec"
	"micro.dev/micro/framework/errors"
)

// Stream is what a streaming handler gets: it receives requests and sends
// responses, each encoded as the caller asked (protobuf or JSON).
type Stream interface {
	// Context is the call's context: its metadata, deadline and account.
	Context() context.Context
	// Send sends one response message.
	Send(msg any) error
	// Recv receives the next request message into msg; io.EOF when the
	// caller has sent its last one.
	Recv(msg any) error
	// SendMsg is Send, for gRPC-style code.
	SendMsg(msg any) error
	// RecvMsg is Recv, for gRPC-style code.
	RecvMsg(msg any) error
	// Close does nothing on the server: the stream ends when the handler
	// returns. It exists so generated stream types match the client's.
	Close() error
}

// stream adapts a gRPC server stream to Stream, encoding with the call's
// content subtype.
type stream struct {
	ss      grpc.ServerStream
	subtype string
	id      string          // service name, for errors
	what    string          // endpoint name, for errors
	ctx     context.Context // as the handler wrappers left it; nil: the call's

	mu  sync.Mutex
	env codec.Envelope // the last request's envelope (jsonrpc, protorpc)
}

func (s *stream) Context() context.Context {
	if s.ctx != nil {
		return s.ctx
	}
	return s.ss.Context()
}
func (s *stream) Close() error          { return nil }
func (s *stream) SendMsg(msg any) error { return s.Send(msg) }
func (s *stream) RecvMsg(msg any) error { return s.Recv(msg) }

func (s *stream) Send(msg any) error {
	s.mu.Lock()
	env := s.env
	s.mu.Unlock()
	data, err := encode(s.id, s.what, s.subtype, env, msg)
	if err != nil {
		return err
	}
	return s.ss.SendMsg(&codec.Frame{Data: data})
}

func (s *stream) Recv(msg any) error {
	var f codec.Frame
	if err := s.ss.RecvMsg(&f); err != nil {
		return err
	}
	env, err := decode(s.id, s.what, s.subtype, f.Data, msg)
	if err == nil && codec.Enveloped(s.subtype) {
		s.mu.Lock()
		s.env = env
		s.mu.Unlock()
	}
	return err
}

// subtypeOf returns the content subtype of the incoming call in ctx:
// "proto" for application/grpc and +proto, "json", "bytes", "text",
// "jsonrpc", "protorpc".
func subtypeOf(ctx context.Context) string {
	for _, ct := range metadata.ValueFromIncomingContext(ctx, "content-type") {
		return contentSubtype(ct)
	}
	return codec.Proto
}

func contentSubtype(ct string) string {
	rest, ok := strings.CutPrefix(strings.ToLower(ct), "application/grpc")
	if !ok || rest == "" || rest[0] == ';' {
		return codec.Proto
	}
	sub, _, _ := strings.Cut(rest[1:], ";")
	return sub
}

// decode reads a request message, encoded as subtype, into v, and
// returns its envelope (jsonrpc, protorpc). A message that cannot be
// decoded into the handler's type is the caller's mistake: a 400 naming
// the endpoint.
func decode(id, what, subtype string, data []byte, v any) (codec.Envelope, error) {
	switch subtype {
	case codec.JSON:
		if err := codec.UnmarshalJSON(data, v); err != nil {
			return codec.Envelope{}, errors.BadRequest(id, "invalid request for %s: %v", what, err)
		}
		return codec.Envelope{}, nil
	case codec.Proto, codec.ProtoRPC:
		if _, ok := v.(proto.Message); !ok {
			return codec.Envelope{}, errors.BadRequest(id, "%s takes JSON (its request is the Go type %s, not a protobuf message): "+
				"call it with content type application/grpc+json or application/json", what, reflect.TypeOf(v))
		}
		if subtype == codec.Proto {
			if err := proto.Unmarshal(data, v.(proto.Message)); err != nil {
				return codec.Envelope{}, errors.BadRequest(id, "invalid request for %s: %v", what, err)
			}
			return codec.Envelope{}, nil
		}
		return unwrap(id, what, subtype, data, v)
	case codec.JSONRPC:
		return unwrap(id, what, subtype, data, v)
	case codec.Bytes:
		switch b := v.(type) {
		case *[]byte:
			*b = data
			return codec.Envelope{}, nil
		case *codec.Frame:
			b.Data = data
			return codec.Envelope{}, nil
		}
		return codec.Envelope{}, errors.BadRequest(id, "%s does not take raw bytes; call it with protobuf or JSON", what)
	case codec.Text:
		if err := codec.UnmarshalText(data, v); err != nil {
			return codec.Envelope{}, errors.BadRequest(id, "%s does not take text (its request is the Go type %s); call it with JSON or protobuf",
				what, reflect.TypeOf(v))
		}
		return codec.Envelope{}, nil
	}
	return codec.Envelope{}, errors.BadRequest(id, "unsupported content type application/grpc+%s for %s", subtype, what)
}

// unwrap reads an enveloped request; an envelope naming another method
// than the one called is refused rather than guessed at.
func unwrap(id, what, subtype string, data []byte, v any) (codec.Envelope, error) {
	env, err := codec.DecodeRequest(subtype, data, v)
	if err != nil {
		return codec.Envelope{}, errors.BadRequest(id, "invalid %s request for %s: %v", codec.ContentType(subtype), what, err)
	}
	if env.Method != "" && env.Method != what {
		return codec.Envelope{}, errors.BadRequest(id, "the %s envelope names method %q, but the call is to %s",
			codec.ContentType(subtype), env.Method, what)
	}
	return env, nil
}

// encode writes a response message as subtype, answering env's request.
func encode(id, what, subtype string, env codec.Envelope, v any) ([]byte, error) {
	switch subtype {
	case codec.JSON:
		b, err := codec.MarshalJSON(v)
		if err != nil {
			return nil, errors.InternalServerError(id, "encoding the response of %s as JSON: %v", what, err)
		}
		return b, nil
	case codec.Proto, codec.ProtoRPC:
		m, ok := v.(proto.Message)
		if !ok {
			return nil, errors.InternalServerError(id, "the response of %s is the Go type %T, not a protobuf message: "+
				"call it with content type application/grpc+json", what, v)
		}
		if subtype == codec.ProtoRPC {
			return wrap(id, what, subtype, env, m)
		}
		b, err := proto.Marshal(m)
		if err != nil {
			return nil, errors.InternalServerError(id, "encoding the response of %s: %v", what, err)
		}
		return b, nil
	case codec.JSONRPC:
		return wrap(id, what, subtype, env, v)
	case codec.Bytes:
		switch b := v.(type) {
		case *[]byte:
			return *b, nil
		case []byte:
			return b, nil
		case *codec.Frame:
			return b.Data, nil
		}
		return nil, errors.InternalServerError(id, "the response of %s is %T, not raw bytes", what, v)
	case codec.Text:
		b, err := codec.MarshalText(v)
		if err != nil {
			return nil, errors.InternalServerError(id, "the response of %s is %T, not text: call it with JSON or protobuf", what, v)
		}
		return b, nil
	}
	return nil, errors.BadRequest(id, "unsupported content type application/grpc+%s for %s", subtype, what)
}

func wrap(id, what, subtype string, env codec.Envelope, v any) ([]byte, error) {
	b, err := codec.EncodeResponse(subtype, codec.Envelope{Method: what, Seq: env.Seq, ID: env.ID}, v)
	if err != nil {
		return nil, errors.InternalServerError(id, "encoding the response of %s as %s: %v", what, codec.ContentType(subtype), err)
	}
	return b, nil
}

// handlerError is what a caller gets for an error a handler returned: micro
// errors as they are, gRPC statuses and context errors mapped to micro
// errors, anything else a 500 from this service.
func handlerError(id string, err error) error {
	if err == nil {
		return nil
	}
	return errors.FromError(err, id)
}
