package proxy

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	microauth "micro.dev/micro/framework/auth"
	"micro.dev/micro/framework/client"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
)

// Call is one call through the proxy as its request log and Config.Observer
// see it. The proxy fills it in as the call goes; an Observer must not keep
// it past CallEnded nor change it.
type Call struct {
	// Service and Endpoint are read from the gRPC method, as Micro names
	// them ("store", "Store.Read").
	Service, Endpoint string
	// Stream reports an endpoint that streams either way.
	Stream bool
	// Known reports that the call reached a method the server knows: one
	// hosted here, or a registered service the router found. Otherwise the
	// names are whatever the caller sent (an unknown service or method, or
	// a call refused before routing), which metrics must not use as labels.
	Known bool
	// Namespace is the call's namespace, settled by auth; Account the id of
	// the caller's account, "" when anonymous.
	Namespace, Account string
	// Started is when the call arrived.
	Started time.Time

	// Set when the call ends: its gRPC code, its error (nil on success)
	// and how long it took.
	Code     codes.Code
	Err      error
	Duration time.Duration

	began bool
}

// Observer hears of every call through the proxy, the gateway's included
// (the node's metrics implement it). Both methods run on the call's
// goroutine and must be quick.
type Observer interface {
	// CallStarted is called as a call begins: at once for a method hosted
	// here, once routed for a call forwarded to a registered service (its
	// shape is known only then), and just before CallEnded for a call that
	// never got that far.
	CallStarted(c *Call)
	// CallEnded is called once as the call ends, with Code, Err and
	// Duration set.
	CallEnded(c *Call)
}

type callKey struct{}

// callFrom returns the Call of the call ctx belongs to, nil outside one.
func callFrom(ctx context.Context) *Call {
	c, _ := ctx.Value(callKey{}).(*Call)
	return c
}

// newCall starts the record of a call to fullMethod.
func newCall(ctx context.Context, fullMethod string) *Call {
	c := &Call{Started: time.Now()}
	c.Service, c.Endpoint, _ = client.SplitMethod(fullMethod)
	// What the caller asked for, until auth settles it.
	if ns, ok := metadata.Get(ctx, metadata.Namespace); ok {
		c.Namespace = ns
	}
	return c
}

// begin tells the Observer the call started, once.
func (p *Proxy) begin(c *Call) {
	if c.began {
		return
	}
	c.began = true
	if p.observer != nil {
		p.observer.CallStarted(c)
	}
}

// settled records what auth decided about the call in ctx.
func settled(ctx context.Context) {
	c := callFrom(ctx)
	if c == nil {
		return
	}
	c.Namespace = metadata.NamespaceFrom(ctx)
	if acc, ok := microauth.AccountFromContext(ctx); ok {
		c.Account = acc.ID
	}
}

// routed marks a forwarded call as reaching a registered service.
func (p *Proxy) routed(ctx context.Context, stream bool) {
	if c := callFrom(ctx); c != nil {
		c.Known, c.Stream = true, stream
		p.begin(c)
	}
}

// end finishes the record of c, tells the Observer and logs the call: at
// debug, or at warn when it failed through the server's fault (a micro code
// of 500 or more). A caller's mistakes stay at debug, "service not found"
// and unknown methods included although they answer with a 500 and a 501:
// anyone can make them in a loop, and they must not fill the log. Tokens and messages are never
// logged.
func (p *Proxy) end(ctx context.Context, c *Call, err error) {
	c.Duration = time.Since(c.Started)
	c.Err = err
	c.Code = codeOf(err)
	p.begin(c)
	if p.observer != nil {
		p.observer.CallEnded(c)
	}
	level := slog.LevelDebug
	var e *errors.Error
	if err != nil {
		if e = errors.FromError(err, "micro"); serverFault(err, e) {
			level = slog.LevelWarn
		}
	}
	if !p.log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("service", c.Service), slog.String("endpoint", c.Endpoint),
		slog.String("code", c.Code.String()), slog.Duration("duration", c.Duration),
		slog.String("namespace", c.Namespace), slog.String("account", c.Account),
	}
	if e != nil {
		attrs = append(attrs, slog.Int("status", int(e.Code)), slog.String("detail", e.Detail))
	}
	msg := "proxy call"
	if level == slog.LevelWarn {
		msg = "proxy call failed"
	}
	p.log.LogAttrs(ctx, level, msg, attrs...)
}

// serverFault reports whether a call failing with err (e, as a micro
// error) failed through the server's fault rather than the caller's: a
// code of 500 or more, except a missing service or method.
func serverFault(err error, e *errors.Error) bool {
	return e.Code >= 500 && codeOf(err) != codes.Unimplemented && !errors.IsServiceNotFound(e)
}

// codeOf is the gRPC code a call ending with err answers with.
func codeOf(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	if st, ok := status.FromError(err); ok {
		return st.Code()
	}
	return status.FromContextError(err).Code()
}

// observeUnary is the outermost unary interceptor: every unary method is
// hosted here, so the call is known at once.
func (p *Proxy) observeUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	c := newCall(ctx, info.FullMethod)
	c.Known = true
	ctx = context.WithValue(ctx, callKey{}, c)
	p.begin(c)
	rsp, err := h(ctx, req)
	p.end(ctx, c, err)
	return rsp, err
}

// observeStream is the outermost stream interceptor. grpc-go passes the
// service's implementation as srv for a hosted method and nil for one that
// the unknown-service handler (forward) serves; forward marks the call
// known once it has routed it.
func (p *Proxy) observeStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	ctx := ss.Context()
	c := newCall(ctx, info.FullMethod)
	ctx = context.WithValue(ctx, callKey{}, c)
	if srv != nil {
		c.Known, c.Stream = true, info.IsClientStream || info.IsServerStream
		p.begin(c)
	}
	err := h(srv, &contextStream{ServerStream: ss, ctx: ctx})
	p.end(ctx, c, err)
	return err
}
