package proxy

import (
	"context"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpcmd "google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
)

// Authenticator decides who makes a call and whether they may (the auth
// block implements it). Authenticate gets the call's target, service and
// endpoint ("Handler.Method"), and the address it came from; it returns the
// context the handler runs with (carrying the caller's account and the
// settled namespace) or the micro error that answers the call.
type Authenticator interface {
	Authenticate(ctx context.Context, service, endpoint, clientAddr string) (context.Context, error)
}

// publicServices answer without authentication: health checks and
// reflection, which load balancers and grpcurl call anonymously.
var publicServices = map[string]bool{
	"grpc.health.v1":          true,
	"grpc.reflection.v1":      true,
	"grpc.reflection.v1alpha": true,
}

// splitMethod turns a gRPC full method "/helloworld.Helloworld/Call" into
// Micro's service "helloworld" and endpoint "Helloworld.Call" (reference
// §1): the service is everything before the last "." of the first segment.
func splitMethod(full string) (service, endpoint string) {
	svcHandler, method, _ := strings.Cut(strings.TrimPrefix(full, "/"), "/")
	i := strings.LastIndex(svcHandler, ".")
	if i < 0 {
		return "", svcHandler + "." + method
	}
	return svcHandler[:i], svcHandler[i+1:] + "." + method
}

// authorize runs the Authenticator for the call to fullMethod in ctx.
func (p *Proxy) authorize(ctx context.Context, fullMethod string) (context.Context, error) {
	service, endpoint := splitMethod(fullMethod)
	if publicServices[service] {
		return ctx, nil
	}
	if service == "" {
		return nil, errors.BadRequest("micro", "service name is blank")
	}
	addr := clientAddr(ctx)
	md, _ := grpcmd.FromIncomingContext(ctx)
	md = md.Copy()
	md.Set(metadata.ClientAddress, addr)
	ctx = grpcmd.NewIncomingContext(ctx, md)
	if p.auth == nil {
		return ctx, nil
	}
	return p.auth.Authenticate(ctx, service, endpoint, addr)
}

// clientAddr is the address a call came from. A network peer's address is
// its own; only the in-process connection (the gateway, which sets
// micro-client-address from the HTTP connection) may name another, so a
// network client cannot pick the address its login attempts count against.
func clientAddr(ctx context.Context) string {
	pr, ok := peer.FromContext(ctx)
	if !ok || pr.Addr == nil {
		return ""
	}
	if pr.Addr.Network() == "bufconn" {
		if v, ok := metadata.Get(ctx, metadata.ClientAddress); ok && v != "" {
			return v
		}
		return "inproc"
	}
	return pr.Addr.String()
}

func (p *Proxy) authUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	ctx, err := p.authorize(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	return h(ctx, req)
}

func (p *Proxy) authStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	ctx, err := p.authorize(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	return h(srv, &contextStream{ServerStream: ss, ctx: ctx})
}

// contextStream is a server stream whose handler sees another context.
type contextStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *contextStream) Context() context.Context { return s.ctx }

// unknownService answers a call to a service or method not hosted here,
// after the interceptors (auth first) have passed it, as grpc-go itself
// would. Routing calls to user services will take its place.
func (p *Proxy) unknownService(_ any, stream grpc.ServerStream) error {
	full, _ := grpc.MethodFromServerStream(stream)
	svcHandler, method, _ := strings.Cut(strings.TrimPrefix(full, "/"), "/")
	if _, ok := p.server.GetServiceInfo()[svcHandler]; ok {
		return status.Errorf(codes.Unimplemented, "unknown method %s for service %s", method, svcHandler)
	}
	return status.Errorf(codes.Unimplemented, "unknown service %s", svcHandler)
}
