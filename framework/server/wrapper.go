package server

import (
	"context"
	"reflect"

	"micro.dev/micro/framework/metadata"
)

// HandlerFunc is one call of an endpoint as wrappers see it: req describes
// the call and carries the decoded request, rsp is the response the
// handler fills in. (For a stream, rsp is the Stream.)
type HandlerFunc func(ctx context.Context, req Request, rsp any) error

// HandlerWrapper is middleware around every endpoint call, as Micro's: it
// may look at the call, change its context, or refuse it by returning an
// error without calling next.
type HandlerWrapper func(next HandlerFunc) HandlerFunc

// Request is a call to one of this server's endpoints.
type Request interface {
	// Service is the name of this service.
	Service() string
	// Method is the gRPC full method, "/service.Handler/Method".
	Method() string
	// Endpoint is "Handler.Method".
	Endpoint() string
	// ContentType is the caller's, e.g. application/grpc+json.
	ContentType() string
	// Header is the call's metadata (authorization, micro-namespace, ...).
	Header() map[string]string
	// Body is the decoded request; nil for a bidirectional stream.
	Body() any
	// Read is the request's encoded bytes; nil for a stream.
	Read() ([]byte, error)
	// Stream reports whether the endpoint streams.
	Stream() bool
}

// WrapHandler adds wrappers run around every endpoint call, in order: the
// first given is the outermost. It fails once the server is serving.
func (s *GRPCServer) WrapHandler(ws ...HandlerWrapper) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.grpc != nil {
		return errServing("WrapHandler")
	}
	s.wrappers = append(s.wrappers, ws...)
	return nil
}

type errServing string

func (e errServing) Error() string {
	return string(e) + ": the server is already serving; add wrappers before Run"
}

// wrapped is fn run through the server's wrappers.
func (s *GRPCServer) wrapped(fn HandlerFunc) HandlerFunc {
	s.mu.Lock()
	ws := s.wrappers
	s.mu.Unlock()
	for i := len(ws) - 1; i >= 0; i-- {
		fn = ws[i](fn)
	}
	return fn
}

// request is the Request of one call.
type request struct {
	service, method, endpoint string
	contentType               string
	header                    map[string]string
	body                      any
	raw                       []byte
	stream                    bool
}

func newRequest(ctx context.Context, service, fullMethod, endpoint string, body any, raw []byte, stream bool) *request {
	md := metadata.FromContext(ctx)
	return &request{service: service, method: fullMethod, endpoint: endpoint, contentType: md["content-type"],
		header: md, body: body, raw: raw, stream: stream}
}

func (r *request) Service() string           { return r.service }
func (r *request) Method() string            { return r.method }
func (r *request) Endpoint() string          { return r.endpoint }
func (r *request) ContentType() string       { return r.contentType }
func (r *request) Header() map[string]string { return r.header }
func (r *request) Body() any                 { return r.body }
func (r *request) Read() ([]byte, error)     { return r.raw, nil }
func (r *request) Stream() bool              { return r.stream }

// callEndpoint calls ep's bound method with ctx and args, as a HandlerFunc
// does at the bottom of the wrappers.
func callEndpoint(ep *endpoint, ctx context.Context, args ...reflect.Value) error {
	out := ep.fn.Call(append([]reflect.Value{reflect.ValueOf(ctx)}, args...))
	err, _ := out[0].Interface().(error)
	return err
}
