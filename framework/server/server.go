// Package server is the RPC server inside a micro service: it turns handler
// values into gRPC services by reflection and serves them.
//
// Every exported method of a handler of one of these shapes is an endpoint
// named "<TypeName>.<Method>", served as the gRPC method
// "/<service>.<TypeName>/<Method>":
//
//	func(ctx context.Context, req *Req, rsp *Rsp) error      // unary
//	func(ctx context.Context, req *Req, stream Stream) error // server stream
//	func(ctx context.Context, stream Stream) error           // bidirectional
//
// Requests and responses are protobuf messages or plain Go structs. The
// caller's content type decides the encoding: protobuf for application/grpc
// and +proto, JSON (protojson for messages, encoding/json for structs) for
// +json. A plain struct called with protobuf gets a 400 saying to use JSON.
// A handler that panics answers that call with a 500; the server goes on.
package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"reflect"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"micro.dev/micro/framework/codec"
	"micro.dev/micro/framework/errors"
	regpb "micro.dev/micro/proto/registry"
)

// Server is what generated RegisterXHandler functions register handlers on.
type Server interface {
	Handle(handler any, opts ...HandlerOption) error
}

// GRPCServer serves handlers over gRPC. Add handlers with Handle before
// Serve.
type GRPCServer struct {
	name string
	log  *slog.Logger

	mu       sync.Mutex
	handlers []*handler
	wrappers []HandlerWrapper // wrapper.go
	grpc     *grpc.Server
	health   *health.Server
	tracer   trace.Tracer // trace.go; nil: off
}

// New returns a server for the service named name; log may be nil
// (slog.Default()).
func New(name string, log *slog.Logger) *GRPCServer {
	if log == nil {
		log = slog.Default()
	}
	return &GRPCServer{name: name, log: log}
}

// Handle adds the endpoints of h (see the package doc). It fails when h has
// no endpoints, when a handler of the same type name is already there, or
// once the server is serving.
func (s *GRPCServer) Handle(h any, opts ...HandlerOption) error {
	hd, err := newHandler(h, opts)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.grpc != nil {
		return fmt.Errorf("handle %s: the server is already serving; add handlers before Run", hd.name)
	}
	for _, other := range s.handlers {
		if other.name == hd.name {
			return fmt.Errorf("handle %s: a handler named %s is already registered", hd.name, hd.name)
		}
	}
	s.handlers = append(s.handlers, hd)
	return nil
}

// Endpoints describes the endpoints to register, sorted by name; internal
// handlers are left out.
func (s *GRPCServer) Endpoints() []*regpb.Endpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*regpb.Endpoint
	for _, h := range s.handlers {
		if !h.internal {
			out = append(out, h.registryEndpoints()...)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Serve serves the handlers on lis until Stop. It can be called once.
func (s *GRPCServer) Serve(lis net.Listener) error {
	s.mu.Lock()
	if s.grpc != nil {
		s.mu.Unlock()
		return fmt.Errorf("server %s is already serving", s.name)
	}
	s.health = health.NewServer()
	debug := s.addDebug() // debug.go
	s.grpc = grpc.NewServer(
		grpc.MaxRecvMsgSize(codec.MaxMessageSize),
		grpc.MaxSendMsgSize(codec.MaxMessageSize),
		grpc.ChainUnaryInterceptor(debug.countUnary, s.traceUnary, s.recoverUnary),
		grpc.ChainStreamInterceptor(debug.countStream, s.traceStream, s.recoverStream),
		grpc.UnknownServiceHandler(s.unknown),
		// Calls run on a pool of goroutines whose stacks have already
		// grown to a call's depth (interceptors, codec, the handler): a
		// new goroutine per call grows its stack again each time. Past
		// the pool, calls get a goroutine of their own as before.
		grpc.NumStreamWorkers(streamWorkers()),
	)
	healthpb.RegisterHealthServer(s.grpc, s.health)
	// Reflection lets grpcurl (directly, or through the micro proxy, which
	// asks here) describe handlers whose messages are protobuf.
	reflection.Register(s.grpc)
	for _, h := range s.handlers {
		s.grpc.RegisterService(s.serviceDesc(h), h)
	}
	srv := s.grpc
	s.mu.Unlock()
	return srv.Serve(lis)
}

// streamWorkers is the size of the pool of call goroutines: a few per
// CPU, since a handler often waits on a block or another service.
func streamWorkers() uint32 { return uint32(max(16, 4*runtime.GOMAXPROCS(0))) }

// Stop marks the server not serving, lets calls in flight finish for up to
// grace, then closes every connection.
func (s *GRPCServer) Stop(grace time.Duration) {
	s.mu.Lock()
	srv, hs := s.grpc, s.health
	s.mu.Unlock()
	if srv == nil {
		return
	}
	hs.Shutdown()
	done := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(grace):
		srv.Stop()
		<-done
	}
}

// serviceDesc builds the gRPC service of one handler:
// "<service>.<TypeName>" with a method per endpoint.
func (s *GRPCServer) serviceDesc(h *handler) *grpc.ServiceDesc {
	sd := &grpc.ServiceDesc{
		ServiceName: s.name + "." + h.name,
		HandlerType: (*any)(nil),
		Metadata:    "micro",
	}
	for _, ep := range h.endpoints {
		if ep.kind == unary {
			sd.Methods = append(sd.Methods, grpc.MethodDesc{MethodName: ep.method, Handler: s.unaryHandler(sd.ServiceName, ep)})
			continue
		}
		// Every stream is declared client-streaming: for a server stream
		// the handler reads the one request itself, so a missing request
		// is our clear 400 rather than gRPC's "cardinality violation" 500,
		// which gRPC sends before the handler can say otherwise.
		sd.Streams = append(sd.Streams, grpc.StreamDesc{
			StreamName:    ep.method,
			Handler:       s.streamHandler(sd.ServiceName, ep),
			ServerStreams: true,
			ClientStreams: true,
		})
	}
	return sd
}

func (s *GRPCServer) unaryHandler(service string, ep *endpoint) func(any, context.Context, func(any) error, grpc.UnaryServerInterceptor) (any, error) {
	fullMethod := "/" + service + "/" + ep.method
	return func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
		var in codec.Frame
		if err := dec(&in); err != nil {
			return nil, err
		}
		sub := subtypeOf(ctx)
		call := func(ctx context.Context, _ any) (any, error) {
			req := reflect.New(ep.req.Elem())
			env, err := decode(s.name, ep.name, sub, in.Data, req.Interface())
			if err != nil {
				return nil, err
			}
			rsp := reflect.New(ep.rsp.Elem())
			fn := s.wrapped(func(ctx context.Context, _ Request, _ any) error {
				return callEndpoint(ep, ctx, req, rsp)
			})
			r := newRequest(ctx, s.name, fullMethod, ep.name, req.Interface(), in.Data, false)
			if err := fn(ctx, r, rsp.Interface()); err != nil {
				return nil, handlerError(s.name, err)
			}
			data, err := encode(s.name, ep.name, sub, env, rsp.Interface())
			if err != nil {
				return nil, err
			}
			return &codec.Frame{Data: data}, nil
		}
		if interceptor == nil {
			return call(ctx, &in)
		}
		return interceptor(ctx, &in, &grpc.UnaryServerInfo{Server: srv, FullMethod: fullMethod}, call)
	}
}

func (s *GRPCServer) streamHandler(service string, ep *endpoint) grpc.StreamHandler {
	fullMethod := "/" + service + "/" + ep.method
	return func(_ any, ss grpc.ServerStream) error {
		ctx := ss.Context()
		st := &stream{ss: ss, subtype: subtypeOf(ctx), id: s.name, what: ep.name}
		var (
			body any
			args []reflect.Value
		)
		if ep.kind == serverStream {
			req := reflect.New(ep.req.Elem())
			if err := st.Recv(req.Interface()); err != nil {
				if err == io.EOF {
					return errors.BadRequest(s.name, "%s: the stream ended before its request", ep.name)
				}
				return err
			}
			body, args = req.Interface(), []reflect.Value{req}
		}
		fn := s.wrapped(func(ctx context.Context, _ Request, _ any) error {
			st.ctx = ctx
			return callEndpoint(ep, ctx, append(args, reflect.ValueOf(st))...)
		})
		err := fn(ctx, newRequest(ctx, s.name, fullMethod, ep.name, body, nil, true), st)
		if err == io.EOF { // the caller ended the stream: not a failure
			return nil
		}
		return handlerError(s.name, err)
	}
}

// unknown answers a method this server does not have with a 404 naming the
// endpoints it does have.
func (s *GRPCServer) unknown(_ any, ss grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(ss)
	s.mu.Lock()
	names := endpointNames(s.handlers)
	s.mu.Unlock()
	endpoint := method
	if svc, m, ok := strings.Cut(strings.TrimPrefix(method, "/"), "/"); ok {
		if _, handler, ok := cutLast(svc, "."); ok {
			endpoint = handler + "." + m
		}
		if prefix, _, _ := cutLast(svc, "."); prefix != s.name {
			return errors.NotFound(s.name, "this is service %s, not %s", s.name, prefix)
		}
	}
	return errors.NotFound(s.name, "service %s has no endpoint %s; its endpoints are %s", s.name, endpoint, names)
}

// cutLast splits s around the last sep.
func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}

// A panic in a handler answers that call with a 500 and leaves the server up.
func (s *GRPCServer) recovered(method string, r any) error {
	s.log.Error("handler panicked", "method", method, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	return errors.InternalServerError(s.name, "panic recovered in %s: %v", method, r)
}

func (s *GRPCServer) recoverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (rsp any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = s.recovered(info.FullMethod, r)
		}
	}()
	return h(ctx, req)
}

func (s *GRPCServer) recoverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = s.recovered(info.FullMethod, r)
		}
	}()
	return h(srv, ss)
}
