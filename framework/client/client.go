// Package client calls micro services: through the micro proxy (MICRO_PROXY),
// which finds the service in the registry and forwards the call, with the
// calling service's own token and namespace on every call.
//
//	rsp := new(pb.Response)
//	err := c.Call(ctx, c.NewRequest("helloworld", "Helloworld.Call", &pb.Request{Name: "John"}), rsp)
//
// Generated clients (pb.NewHelloworldService("helloworld", c)) wrap this.
// Protobuf messages travel as protobuf, anything else as JSON. Errors are
// micro errors (framework/errors).
package client

import (
	"context"
	stderrors "errors"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpcmd "google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"micro.dev/micro/framework/codec"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
	"micro.dev/micro/internal/tracing"
)

// Defaults, as in Micro.
const (
	DefaultProxy          = "127.0.0.1:8081"
	DefaultRequestTimeout = 10 * time.Second
	DefaultRetries        = 1
)

// clientID is the id of errors the client itself raises, as in Micro.
const clientID = "go.micro.client"

// Client makes calls to services.
type Client interface {
	// NewRequest names a call: service, endpoint ("Handler.Method") and
	// request message.
	NewRequest(service, endpoint string, req any, opts ...RequestOption) Request
	// Call makes a unary call and decodes the response into rsp.
	Call(ctx context.Context, req Request, rsp any, opts ...CallOption) error
	// Stream opens a stream to req's endpoint; send the request with
	// Stream.Send. The stream lives until Close, an error or ctx's end.
	Stream(ctx context.Context, req Request, opts ...CallOption) (Stream, error)
}

// Request is a call to make.
type Request interface {
	Service() string
	// Endpoint is "Handler.Method".
	Endpoint() string
	// Method is the gRPC full method, "/service.Handler/Method".
	Method() string
	Body() any
	// ContentType is application/grpc+proto or +json; empty chooses by
	// message type.
	ContentType() string
}

// Stream is an open streaming call.
type Stream interface {
	Context() context.Context
	Request() Request
	// Send sends one message.
	Send(msg any) error
	// Recv receives the next message into msg; io.EOF at the end.
	Recv(msg any) error
	SendMsg(msg any) error
	RecvMsg(msg any) error
	// CloseSend says no more messages will be sent.
	CloseSend() error
	// Close ends the stream at once.
	Close() error
}

// RequestOption configures NewRequest.
type RequestOption func(*request)

// WithContentType sets the request's encoding, as Micro named them:
// application/json (or application/grpc+json) for JSON; application/protobuf
// (application/grpc, +proto, application/proto, application/octet-stream)
// for protobuf; application/grpc+bytes for raw bytes; text/plain for a
// string or []byte as it is; application/json-rpc and application/proto-rpc
// for JSON and protobuf inside JSON-RPC 1.0 and net/rpc envelopes.
func WithContentType(ct string) RequestOption {
	return func(r *request) { r.contentType = ct }
}

// CallOption configures one call.
type CallOption func(*CallOptions)

// CallOptions are the settings of one call.
type CallOptions struct {
	// Address calls this node (host:port) directly instead of the proxy.
	Address string
	// RequestTimeout bounds the call; streams have none unless set.
	RequestTimeout time.Duration
	// Retries is how often a call that did no work (see Retryable) is
	// made again; default DefaultRetries.
	Retries int
	// Backoff is the wait before each retry; nil is DefaultBackoff.
	Backoff BackoffFunc
}

// WithAddress calls the node at addr directly, bypassing the proxy. Nodes
// serve plaintext, as the registry lists them ("host:port"); an https://
// address is reached over TLS with the client's Security.
func WithAddress(addr string) CallOption { return func(o *CallOptions) { o.Address = addr } }

// WithRequestTimeout bounds the call.
func WithRequestTimeout(d time.Duration) CallOption {
	return func(o *CallOptions) { o.RequestTimeout = d }
}

// WithRetries sets how often a call that did no work (a refused
// connection, a 503) is made again, waiting Backoff between.
func WithRetries(n int) CallOption { return func(o *CallOptions) { o.Retries = n } }

// Options configure a GRPCClient.
type Options struct {
	// Proxy is the micro proxy's address; default DefaultProxy. Whether
	// it is reached over TLS is ParseTarget's rule.
	Proxy string
	// Security is how the proxy's certificate is checked; nil reads
	// MICRO_PROXY_CA and MICRO_PROXY_INSECURE (SecurityFromEnv).
	Security *Security
	// Namespace is sent as micro-namespace unless a call sets one.
	Namespace string
	// Service is the name of the service the client calls for; block
	// clients use it as a default (the store's table).
	Service string
	// ID and Secret are the service's credentials; when set, every call
	// carries a token obtained with them (see token.go).
	ID, Secret string
	// RequestTimeout is the default bound of unary calls.
	RequestTimeout time.Duration
	Logger         *slog.Logger
	// Tracer, when set, records a span of every call and sends it as the
	// callee's parent (trace.go); nil does no tracing work.
	Tracer trace.Tracer
}

// GRPCClient is the Client services use.
type GRPCClient struct {
	opts   Options
	log    *slog.Logger
	proxy  *grpc.ClientConn
	tokens *tokenSource

	mu    sync.Mutex
	nodes map[string]*grpc.ClientConn // WithAddress connections
}

// New returns a client; connections are made on first use.
func New(opts Options) (*GRPCClient, error) {
	if opts.Proxy == "" {
		opts.Proxy = DefaultProxy
	}
	if opts.Namespace == "" {
		opts.Namespace = metadata.DefaultNamespace
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Security == nil {
		sec, err := SecurityFromEnv(os.Getenv)
		if err != nil {
			return nil, err
		}
		opts.Security = &sec
	}
	conn, err := Dial(opts.Proxy, *opts.Security)
	if err != nil {
		return nil, err
	}
	c := &GRPCClient{opts: opts, log: opts.Logger, proxy: conn, nodes: map[string]*grpc.ClientConn{}}
	c.tokens = newTokenSource(conn, opts.ID, opts.Secret, opts.Namespace, opts.Logger)
	return c, nil
}

// Close closes the client's connections.
func (c *GRPCClient) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for addr, conn := range c.nodes {
		conn.Close()
		delete(c.nodes, addr)
	}
	return c.proxy.Close()
}

// Conn is a connection through the proxy that adds the client's token and
// namespace to every call, for generated gRPC clients such as the
// registry's.
func (c *GRPCClient) Conn() grpc.ClientConnInterface { return &authConn{c: c, conn: c.proxy} }

// Proxy is the address of the proxy calls go through.
func (c *GRPCClient) Proxy() string { return c.opts.Proxy }

// Token returns the access token calls carry ("" when anonymous).
func (c *GRPCClient) Token(ctx context.Context) (string, error) { return c.tokens.Token(ctx) }

type request struct {
	service, endpoint, method, contentType string
	body                                   any
}

func (r *request) Service() string     { return r.service }
func (r *request) Endpoint() string    { return r.endpoint }
func (r *request) Method() string      { return r.method }
func (r *request) Body() any           { return r.body }
func (r *request) ContentType() string { return r.contentType }

// FullMethod is the gRPC method that serves a service's endpoint:
// "/<service>.<Handler>/<Method>" for endpoint "<Handler>.<Method>".
// SplitMethod reads it back.
func FullMethod(service, endpoint string) string {
	handler, method, _ := strings.Cut(endpoint, ".")
	return "/" + service + "." + handler + "/" + method
}

// SplitMethod reads a gRPC full method "/<service>.<Handler>/<Method>" as
// Micro does: the service is everything before the last '.' of the first
// segment, the endpoint "<Handler>.<Method>".
func SplitMethod(method string) (service, endpoint string, err error) {
	path, m, ok := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	if !ok || m == "" || strings.Contains(m, "/") {
		return "", "", errors.BadRequest("micro", "malformed method %q: want /<service>.<Handler>/<Method>", method)
	}
	i := strings.LastIndex(path, ".")
	if i <= 0 || i == len(path)-1 {
		return "", "", errors.BadRequest("micro", "service name is blank in method %q: want /<service>.<Handler>/<Method>", method)
	}
	return path[:i], path[i+1:] + "." + m, nil
}

// NewRequest names a call.
func (c *GRPCClient) NewRequest(service, endpoint string, body any, opts ...RequestOption) Request {
	r := &request{service: service, endpoint: endpoint, body: body, method: FullMethod(service, endpoint)}
	for _, o := range opts {
		o(r)
	}
	return r
}

// subtype decides the encoding of a call: the request's content type when
// given (codec.Subtype: Micro's names), else protobuf when both messages
// are protobuf, else JSON.
func subtype(r Request, rsp any) (string, error) {
	if ct := r.ContentType(); ct != "" {
		sub, ok := codec.Subtype(ct)
		if !ok {
			return "", errors.BadRequest(clientID, "unsupported content type %q: micro speaks application/json, application/protobuf, "+
				"text/plain, application/json-rpc, application/proto-rpc and application/grpc+json, +proto, +bytes", ct)
		}
		return sub, nil
	}
	_, reqProto := r.Body().(proto.Message)
	_, rspProto := rsp.(proto.Message)
	if reqProto && (rsp == nil || rspProto) {
		return codec.Proto, nil
	}
	return codec.JSON, nil
}

func (c *GRPCClient) callOptions(opts []CallOption) CallOptions {
	o := CallOptions{Retries: DefaultRetries}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// conn returns where a call goes: the proxy, or a node given WithAddress.
func (c *GRPCClient) conn(o CallOptions) (*grpc.ClientConn, error) {
	if o.Address == "" {
		return c.proxy, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if conn, ok := c.nodes[o.Address]; ok {
		return conn, nil
	}
	t, err := NodeTarget(o.Address, *c.opts.Security)
	if err != nil {
		return nil, errors.BadRequest(clientID, "node address: %v", err)
	}
	conn, err := Connect(t)
	if err != nil {
		return nil, errors.InternalServerError(clientID, "dialling %s: %v", o.Address, err)
	}
	c.nodes[o.Address] = conn
	return conn, nil
}

// outgoing adds the call's metadata to ctx: the token, the namespace and
// the timeout, unless ctx already carries them.
func (c *GRPCClient) outgoing(ctx context.Context, timeout time.Duration) (context.Context, error) {
	md := metadata.Metadata{}
	if _, ok := outgoingValue(ctx, metadata.Namespace); !ok {
		md[metadata.Namespace] = c.opts.Namespace
	}
	if _, ok := outgoingValue(ctx, metadata.Authorization); !ok {
		tok, err := c.tokens.Token(ctx)
		if err != nil {
			return nil, err
		}
		if tok != "" {
			md[metadata.Authorization] = "Bearer " + tok
		}
	}
	if timeout > 0 {
		md[metadata.Timeout] = strconv.FormatInt(int64(timeout), 10)
	}
	return metadata.NewContext(ctx, md), nil
}

// Call makes a unary call, retrying one that did no work (Retryable) as
// often as Retries says, with Backoff between.
func (c *GRPCClient) Call(ctx context.Context, req Request, rsp any, opts ...CallOption) error {
	o := c.callOptions(opts)
	sub, err := subtype(req, rsp)
	if err != nil {
		return err
	}
	timeout := o.RequestTimeout
	if timeout <= 0 {
		timeout = c.opts.RequestTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ctx, err = c.outgoing(ctx, timeout)
	if err != nil {
		return err
	}
	conn, err := c.conn(o)
	if err != nil {
		return err
	}
	ctx, end := c.startSpan(ctx, req)
	if end != nil {
		defer func() { end(err) }()
	}
	send, recv, err := wrapRequest(sub, req.Endpoint(), seq.Add(1), req.Body(), rsp) // envelope.go
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		err = conn.Invoke(ctx, req.Method(), send, recv, grpc.CallContentSubtype(sub))
		if err == nil || !o.retry(ctx, req, attempt, err) { // retry.go
			break
		}
	}
	if err == nil && codec.Enveloped(sub) {
		err = unwrapResponse(sub, req.Endpoint(), recv.(*codec.Frame), rsp)
	}
	return callError(err)
}

// Stream opens a stream to req's endpoint.
func (c *GRPCClient) Stream(ctx context.Context, req Request, opts ...CallOption) (Stream, error) {
	o := c.callOptions(opts)
	sub, err := subtype(req, nil)
	if err != nil {
		return nil, err
	}
	var cancel context.CancelFunc
	if o.RequestTimeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, o.RequestTimeout)
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	octx, err := c.outgoing(ctx, o.RequestTimeout)
	if err != nil {
		cancel()
		return nil, err
	}
	conn, err := c.conn(o)
	if err != nil {
		cancel()
		return nil, err
	}
	// The span, when traced, lasts as long as the stream.
	octx, span := c.startStreamSpan(octx, req)
	desc := &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}
	var cs grpc.ClientStream
	for attempt := 0; ; attempt++ {
		cs, err = conn.NewStream(octx, desc, req.Method(), grpc.CallContentSubtype(sub))
		if err == nil || attempt >= o.Retries || !Refused(err) || ctx.Err() != nil {
			break
		}
	}
	if span != nil {
		if err != nil {
			tracing.End(span, err)
		} else {
			cs = tracing.ClientStream(octx, cs, span)
		}
	}
	if err != nil {
		cancel()
		return nil, callError(err)
	}
	return &clientStream{ctx: ctx, cancel: cancel, cs: cs, req: req, sub: sub, seq: seq.Add(1)}, nil
}

type clientStream struct {
	ctx    context.Context
	cancel context.CancelFunc
	cs     grpc.ClientStream
	req    Request
	sub    string // the codec; jsonrpc and protorpc are wrapped here
	seq    uint64 // the stream's envelope number
}

func (s *clientStream) Context() context.Context { return s.ctx }
func (s *clientStream) Request() Request         { return s.req }
func (s *clientStream) SendMsg(msg any) error    { return s.Send(msg) }
func (s *clientStream) RecvMsg(msg any) error    { return s.Recv(msg) }
func (s *clientStream) CloseSend() error         { return s.cs.CloseSend() }

// Header waits for the server's response headers: a server that sends them
// before its first message (events.Stream/Consume, broker.Broker/Subscribe)
// says so that it accepted the stream. A stream that ended without
// headers returns its error.
func (s *clientStream) Header() (grpcmd.MD, error) {
	md, err := s.cs.Header()
	if err != nil {
		return nil, callError(err)
	}
	if md == nil {
		// Ended without headers: the status is read by RecvMsg.
		if err := s.cs.RecvMsg(new(emptypb.Empty)); err != nil && err != io.EOF {
			return nil, callError(err)
		}
		return nil, errors.InternalServerError(clientID, "the stream ended before the server answered")
	}
	return md, nil
}

func (s *clientStream) Close() error {
	s.cancel()
	return nil
}

func (s *clientStream) Send(msg any) error {
	send, _, err := wrapRequest(s.sub, s.req.Endpoint(), s.seq, msg, nil)
	if err != nil {
		return err
	}
	if err := s.cs.SendMsg(send); err != nil {
		if err == io.EOF {
			return err // the server ended the stream; Recv says how
		}
		return callError(err)
	}
	return nil
}

func (s *clientStream) Recv(msg any) error {
	if codec.Enveloped(s.sub) {
		var f codec.Frame
		if err := s.recv(&f); err != nil {
			return err
		}
		return unwrapResponse(s.sub, s.req.Endpoint(), &f, msg)
	}
	return s.recv(msg)
}

func (s *clientStream) recv(msg any) error {
	if err := s.cs.RecvMsg(msg); err != nil {
		if err == io.EOF {
			s.cancel()
			return io.EOF
		}
		return callError(err)
	}
	return nil
}

// callError turns what gRPC returned into a micro error.
func callError(err error) error {
	if err == nil {
		return nil
	}
	var me *errors.Error
	if stderrors.As(err, &me) {
		return me
	}
	return errors.FromError(err, clientID)
}

// Refused reports whether err is a connection that was refused, so the call
// never reached a server and may be retried safely.
func Refused(err error) bool {
	if err == nil {
		return false
	}
	if st, ok := status.FromError(err); ok && st.Code() == codes.Unavailable {
		return strings.Contains(st.Message(), "connection refused")
	}
	return strings.Contains(err.Error(), "connection refused")
}

// outgoingValue reads key from the outgoing metadata of ctx.
func outgoingValue(ctx context.Context, key string) (string, bool) {
	md, ok := metadataFromOutgoing(ctx)
	if !ok {
		return "", false
	}
	v := md.Get(key)
	if len(v) == 0 || v[0] == "" {
		return "", false
	}
	return v[0], true
}

// authConn adds the client's metadata to calls made with generated gRPC
// clients, and ctx's span as the callee's parent when it has one.
type authConn struct {
	c    *GRPCClient
	conn *grpc.ClientConn
}

func (a *authConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	ctx, err := a.c.outgoing(tracing.Outgoing(ctx), 0)
	if err != nil {
		return err
	}
	return a.conn.Invoke(ctx, method, args, reply, opts...)
}

func (a *authConn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	ctx, err := a.c.outgoing(tracing.Outgoing(ctx), 0)
	if err != nil {
		return nil, err
	}
	return a.conn.NewStream(ctx, desc, method, opts...)
}
