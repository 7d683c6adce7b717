package proxy

import (
	"context"
	"io"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	grpcmd "google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"micro.dev/micro/framework/codec"
)

// The gateway's calls reach the proxy in-process. Over the in-process
// listener (Dial) each one still costs a whole gRPC round trip: HTTP/2
// frames encoded, written through a pipe and parsed again on each side. A
// unary call does not need that: Local runs it in the caller's goroutine
// through the very interceptors (observe, recover, auth, trace) and handler
// a call arriving over the network meets, with the same metadata, peer,
// codec, size limits and status errors as on the wire. Streams, and
// anything Local cannot do exactly so, go over the listener.

// registered is a unary method of a service registered through the proxy
// (RegisterService).
type registered struct {
	handler grpc.MethodHandler
	impl    any
}

// RegisterService registers a service on the proxy's gRPC server and
// notes its unary methods for Local. Blocks register through it.
func (p *Proxy) RegisterService(desc *grpc.ServiceDesc, impl any) {
	p.server.RegisterService(desc, impl)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.registered == nil {
		p.registered = map[string]registered{}
	}
	for _, m := range desc.Methods {
		p.registered["/"+desc.ServiceName+"/"+m.MethodName] = registered{handler: m.Handler, impl: impl}
	}
}

// freezeLocal publishes the unary methods registered so far: grpc-go
// refuses registrations once Serve starts.
func (p *Proxy) freezeLocal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	methods := make(map[string]registered, len(p.registered))
	for k, v := range p.registered {
		methods[k] = v
	}
	p.unary.Store(&methods)
}

// Local returns a connection to this proxy for in-process callers (the
// gateway): unary calls run in the caller's goroutine as described above;
// streams, and calls before Serve, go over conn (from Dial).
func (p *Proxy) Local(conn grpc.ClientConnInterface) grpc.ClientConnInterface {
	return &localConn{p: p, conn: conn}
}

type localConn struct {
	p    *Proxy
	conn grpc.ClientConnInterface
}

func (c *localConn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return c.conn.NewStream(ctx, desc, method, opts...)
}

func (c *localConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	call, ok := c.p.localCall(method, opts)
	if !ok {
		return c.conn.Invoke(ctx, method, args, reply, opts...)
	}
	return call.invoke(ctx, args, reply)
}

// localCall prepares an in-process call to method; false when it must go
// over the listener: before Serve, a stream or health/reflection method
// of a hosted service, or a call option Local does not implement.
func (p *Proxy) localCall(method string, opts []grpc.CallOption) (*localCall, bool) {
	unary := p.unary.Load()
	if unary == nil {
		return nil, false
	}
	c := &localCall{p: p, method: method, subtype: codec.Proto}
	for _, o := range opts {
		switch o := o.(type) {
		case grpc.ContentSubtypeCallOption:
			c.subtype = strings.ToLower(o.ContentSubtype)
		case grpc.HeaderCallOption:
			c.header = o.HeaderAddr
		case grpc.TrailerCallOption:
			c.trailer = o.TrailerAddr
		default:
			return nil, false
		}
	}
	if c.codec = encoding.GetCodecV2(c.subtype); c.codec == nil {
		return nil, false // grpc-go's own error for an unknown subtype
	}
	if m, ok := (*unary)[method]; ok {
		c.hosted = &m
		return c, true
	}
	service, _, ok := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	if !ok || p.isHosted(service) {
		return nil, false
	}
	return c, true // forwarded to a registered service (forward.go)
}

// localCall is one unary call made in-process.
type localCall struct {
	p       *Proxy
	method  string
	subtype string
	codec   encoding.CodecV2
	hosted  *registered // nil: forwarded
	header  *grpcmd.MD
	trailer *grpcmd.MD

	mu          sync.Mutex
	hdr, trl    grpcmd.MD
	rsp         mem.BufferSlice
	rspSent     bool
	reqReceived bool
}

// invoke is the client's and the server's side of the call at once. Each
// error is the status the network client would get.
func (c *localCall) invoke(ctx context.Context, args, reply any) error {
	out, ok := grpcmd.FromOutgoingContext(ctx) // a copy, keys lower-cased
	if !ok {
		out = grpcmd.MD{}
	}
	if err := validMetadata(out); err != nil {
		return err
	}
	req, err := c.codec.Marshal(args)
	if err != nil {
		return status.Errorf(codes.Internal, "grpc: error while marshaling: %v", err.Error())
	}
	defer req.Free()
	if n := req.Len(); n > codec.MaxMessageSize {
		return status.Errorf(codes.ResourceExhausted, "grpc: trying to send message larger than max (%d vs. %d)", n, codec.MaxMessageSize)
	}

	// The server's context: the caller's deadline and cancellation, none
	// of its values, and what grpc-go puts there for a network call.
	out.Set("content-type", "application/grpc+"+c.subtype)
	sctx := grpcmd.NewIncomingContext(detached{ctx}, out)
	sctx = peer.NewContext(sctx, &peer.Peer{Addr: localAddr{}, LocalAddr: localAddr{}})
	sctx = grpc.NewContextWithServerTransportStream(sctx, (*localTransport)(c))

	dec := func(v any) error {
		if err := c.codec.Unmarshal(req, v); err != nil {
			return status.Errorf(codes.Internal, "grpc: failed to unmarshal the received message: %v", err)
		}
		return nil
	}
	if c.hosted != nil {
		var rsp any
		rsp, err = c.hosted.handler(c.hosted.impl, sctx, dec, c.p.unaryChain)
		if err == nil {
			err = c.send(rsp)
		}
	} else {
		ss := &localStream{localCall: c, ctx: sctx, dec: dec}
		err = c.p.streamChain(nil, ss, &grpc.StreamServerInfo{FullMethod: c.method, IsClientStream: true, IsServerStream: true}, c.p.forward)
	}
	defer c.rsp.Free()
	if ctx.Err() != nil {
		// A network caller whose context ended stops listening: it gets
		// that, and no headers or trailers.
		return status.FromContextError(ctx.Err()).Err()
	}
	if c.header != nil {
		*c.header = c.hdr
	}
	if c.trailer != nil {
		*c.trailer = c.trl
	}
	if err != nil {
		st, ok := status.FromError(err)
		if !ok {
			st = status.FromContextError(err)
		}
		return st.Err()
	}
	if !c.rspSent {
		return status.Error(codes.Internal, "cardinality violation: received no response message from non-server-streaming RPC")
	}
	if err := c.codec.Unmarshal(c.rsp, reply); err != nil {
		return status.Errorf(codes.Internal, "grpc: failed to unmarshal the received message: %v", err)
	}
	return nil
}

// localTransport is the call's grpc.ServerTransportStream: what
// grpc.Method, grpc.SetHeader and friends reach from the handler's
// context.
type localTransport localCall

func (t *localTransport) Method() string { return t.method }

func (t *localTransport) SetHeader(md grpcmd.MD) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.hdr = grpcmd.Join(t.hdr, md)
	return nil
}

func (t *localTransport) SendHeader(md grpcmd.MD) error { return t.SetHeader(md) }

func (t *localTransport) SetTrailer(md grpcmd.MD) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.trl = grpcmd.Join(t.trl, md)
	return nil
}

// localStream is the server stream a forwarded call is handed: one
// request message in, one answer out.
type localStream struct {
	*localCall
	ctx context.Context
	dec func(any) error
}

func (s *localStream) Context() context.Context { return s.ctx }

func (s *localStream) SetHeader(md grpcmd.MD) error {
	return (*localTransport)(s.localCall).SetHeader(md)
}
func (s *localStream) SendHeader(md grpcmd.MD) error {
	return (*localTransport)(s.localCall).SendHeader(md)
}
func (s *localStream) SetTrailer(md grpcmd.MD) { (*localTransport)(s.localCall).SetTrailer(md) }

func (s *localStream) RecvMsg(m any) error {
	s.mu.Lock()
	received := s.reqReceived
	s.reqReceived = true
	s.mu.Unlock()
	if received {
		return io.EOF
	}
	return s.dec(m)
}

func (s *localStream) SendMsg(m any) error { return s.send(m) }

// send encodes the answer, as grpc-go's server does before it writes.
func (s *localCall) send(m any) error {
	data, err := s.codec.Marshal(m)
	if err != nil {
		return status.Errorf(codes.Internal, "grpc: error while marshaling: %v", err.Error())
	}
	if n := data.Len(); n > codec.MaxMessageSize {
		data.Free()
		return status.Errorf(codes.ResourceExhausted, "grpc: trying to send message larger than max (%d vs. %d)", n, codec.MaxMessageSize)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rspSent {
		data.Free()
		return status.Error(codes.Internal, "cardinality violation: expected <EOF> for non server-streaming RPCs, but received another message")
	}
	s.rsp, s.rspSent = data, true
	return nil
}

// detached is the caller's context as the server side of a call sees it:
// its deadline and cancellation, none of its values.
type detached struct{ parent context.Context }

func (d detached) Deadline() (time.Time, bool) { return d.parent.Deadline() }
func (d detached) Done() <-chan struct{}       { return d.parent.Done() }
func (d detached) Err() error                  { return d.parent.Err() }
func (d detached) Value(any) any               { return nil }

// localAddr is the peer address of an in-process call; like the
// in-process listener's, it is trusted to carry the client's address
// (auth.go).
type localAddr struct{}

func (localAddr) Network() string { return "inproc" }
func (localAddr) String() string  { return "inproc" }

// validMetadata refuses what grpc-go's client refuses to send: keys
// outside [0-9a-z-_.] and, except for -bin keys, values that are not
// printable ASCII.
func validMetadata(md grpcmd.MD) error {
	for k, vs := range md {
		if strings.HasPrefix(k, ":") {
			continue // pseudo-headers: grpc-go ignores them
		}
		for i := 0; i < len(k); i++ {
			c := k[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
				return status.Errorf(codes.Internal, "header key %q contains illegal characters not in [0-9a-z-_.]", k)
			}
		}
		if strings.HasSuffix(k, "-bin") {
			continue
		}
		for _, v := range vs {
			for i := 0; i < len(v); i++ {
				if v[i] < 0x20 || v[i] > 0x7E {
					return status.Errorf(codes.Internal, "header key %q contains value with non-printable ASCII characters", k)
				}
			}
		}
	}
	return nil
}

// chainUnary and chainStream call interceptors in order, as
// grpc.ChainUnaryInterceptor and grpc.ChainStreamInterceptor do.
func chainUnary(ints []grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		var next func(i int) grpc.UnaryHandler
		next = func(i int) grpc.UnaryHandler {
			if i == len(ints) {
				return h
			}
			return func(ctx context.Context, req any) (any, error) { return ints[i](ctx, req, info, next(i+1)) }
		}
		return next(0)(ctx, req)
	}
}

func chainStream(ints []grpc.StreamServerInterceptor) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		var next func(i int) grpc.StreamHandler
		next = func(i int) grpc.StreamHandler {
			if i == len(ints) {
				return h
			}
			return func(srv any, ss grpc.ServerStream) error { return ints[i](srv, ss, info, next(i+1)) }
		}
		return next(0)(srv, ss)
	}
}
