package proxy

import (
	"context"
	"io"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpcmd "google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"micro.dev/micro/framework/client"
	"micro.dev/micro/framework/codec"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
	"micro.dev/micro/router"
)

// Router finds where a call to a service not hosted in-process goes:
// *router.Router.
type Router interface {
	Resolve(ctx context.Context, namespace, service, endpoint string) (*router.Route, error)
}

type routerHolder struct{ r Router }

// SetRouter makes the proxy forward calls to services it does not host
// through r. Without one, such calls get "service not found".
func (p *Proxy) SetRouter(r Router) { p.router.Store(&routerHolder{r: r}) }

// DefaultTimeout bounds a forwarded unary call that carries neither a
// deadline nor a timeout.
const DefaultTimeout = 30 * time.Second

// skipForward are incoming headers that describe this hop, not the call.
var skipForward = map[string]bool{
	":authority":   true,
	"content-type": true,
	"user-agent":   true,
	"te":           true,
}

// forward serves a call to any service the proxy does not host: it routes
// it, then pumps the raw frames both ways, whatever their encoding (protobuf,
// JSON, bytes pass through untouched), with headers and trailers copied and
// the caller's metadata (authorization, micro-namespace, timeout, ...)
// forwarded. Unary calls arrive here as streams of one message.
func (p *Proxy) forward(_ any, ss grpc.ServerStream) error {
	ctx := ss.Context()
	method, _ := grpc.MethodFromServerStream(ss)
	service, endpoint, err := client.SplitMethod(method)
	if err != nil {
		return err
	}
	h := p.router.Load()
	// A method a hosted service lacks: for a block, the router's 404 names
	// the endpoint and lists those it has, as for any service; for health
	// and reflection, grpc-go's own answer.
	svcHandler, name, _ := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	if p.isHosted(svcHandler) {
		if h != nil {
			if _, err := h.r.Resolve(ctx, metadata.NamespaceFrom(ctx), service, endpoint); errors.Code(err) == 404 {
				return err
			}
		}
		return status.Errorf(codes.Unimplemented, "unknown method %s for service %s", name, svcHandler)
	}
	if h == nil {
		return errors.ServiceNotFound(service)
	}
	route, err := h.r.Resolve(ctx, metadata.NamespaceFrom(ctx), service, endpoint)
	if err != nil {
		return err
	}
	if route.Local {
		// Resolve found a hosted block, yet the server did not: only an
		// endpoint it lacks gets here, and Resolve reports those itself.
		return errors.NotFound("micro", "service %s has no endpoint %s", service, endpoint)
	}
	p.routed(ctx, route.Stream()) // observe.go

	md, _ := grpcmd.FromIncomingContext(ctx) // a copy: what is not forwarded is deleted from it
	var opts []grpc.CallOption
	if sub := contentSubtype(md.Get("content-type")); sub != "" {
		opts = append(opts, grpc.CallContentSubtype(sub))
	}
	for k := range md {
		if skipForward[k] || strings.HasPrefix(k, "grpc-") {
			delete(md, k)
		}
	}
	if _, has := ctx.Deadline(); !has {
		if t := forwardTimeout(md); t > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, t)
			defer cancel()
		} else if !route.Stream() {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
			defer cancel()
		}
	}
	if !route.Stream() {
		return forwardUnary(grpcmd.NewOutgoingContext(ctx, md), ss, route, method, opts)
	}
	// The caller's side ending early (an error receiving) cancels the
	// service's side.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	desc := &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}
	cs, err := route.Conn.NewStream(grpcmd.NewOutgoingContext(ctx, md), desc, method, opts...)
	if err != nil {
		return err
	}

	// Caller to service. It ends on the caller's last message (or the
	// call's end); when the service answers first, its answer ends the call.
	go func() {
		for {
			var f codec.Frame
			if err := ss.RecvMsg(&f); err != nil {
				if err == io.EOF {
					cs.CloseSend()
				} else {
					cancel()
				}
				return
			}
			if err := cs.SendMsg(&f); err != nil {
				return // the service ended the call; RecvMsg below says how
			}
		}
	}()

	// Service to caller.
	if hdr, err := cs.Header(); err == nil && len(hdr) > 0 {
		if err := ss.SendHeader(hdr); err != nil {
			return err
		}
	}
	for {
		var f codec.Frame
		if err := cs.RecvMsg(&f); err != nil {
			ss.SetTrailer(cs.Trailer())
			if err == io.EOF {
				return nil
			}
			return err
		}
		if err := ss.SendMsg(&f); err != nil {
			return err
		}
	}
}

// forwardUnary forwards a call to an endpoint that does not stream as a
// unary call: one message each way, sent by gRPC in fewer writes than a
// stream needs.
func forwardUnary(ctx context.Context, ss grpc.ServerStream, route *router.Route, method string, opts []grpc.CallOption) error {
	var req, rsp codec.Frame
	if err := ss.RecvMsg(&req); err != nil {
		if err == io.EOF {
			return errors.BadRequest("micro", "no request message for %s", method)
		}
		return err
	}
	var hdr, trl grpcmd.MD
	err := route.Conn.Invoke(ctx, method, &req, &rsp, append(opts, grpc.Header(&hdr), grpc.Trailer(&trl))...)
	if len(hdr) > 0 {
		if herr := ss.SendHeader(hdr); herr != nil {
			return herr
		}
	}
	ss.SetTrailer(trl)
	if err != nil {
		return err
	}
	return ss.SendMsg(&rsp)
}

// forwardTimeout reads the timeout metadata: nanoseconds, as Micro sends
// it; 0 when absent or not a positive number.
func forwardTimeout(md grpcmd.MD) time.Duration {
	v := md.Get(metadata.Timeout)
	if len(v) == 0 {
		return 0
	}
	n, err := strconv.ParseInt(v[0], 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return time.Duration(n)
}

// contentSubtype returns the codec name of a gRPC content type:
// application/grpc+json -> json; "" for plain application/grpc.
func contentSubtype(cts []string) string {
	if len(cts) == 0 {
		return ""
	}
	rest, ok := strings.CutPrefix(strings.ToLower(cts[0]), "application/grpc")
	if !ok || rest == "" || (rest[0] != '+' && rest[0] != ';') || rest[0] == ';' {
		return ""
	}
	sub, _, _ := strings.Cut(rest[1:], ";")
	return sub
}
