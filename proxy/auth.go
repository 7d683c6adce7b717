package proxy

import (
	"context"

	"google.golang.org/grpc"
	grpcmd "google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"micro.dev/micro/framework/client"
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

// authorize runs the Authenticator for the call to fullMethod in ctx.
func (p *Proxy) authorize(ctx context.Context, fullMethod string) (context.Context, error) {
	service, endpoint, err := client.SplitMethod(fullMethod)
	if err != nil {
		return nil, err
	}
	if publicServices[service] {
		return ctx, nil
	}
	// The address settled on is the call's micro-client-address, whatever
	// the caller sent; the gateway's call carries it already.
	addr := p.clientAddr(ctx)
	if v := grpcmd.ValueFromIncomingContext(ctx, metadata.ClientAddress); len(v) != 1 || v[0] != addr {
		md, _ := grpcmd.FromIncomingContext(ctx) // a copy, ours to change
		md.Set(metadata.ClientAddress, addr)
		ctx = grpcmd.NewIncomingContext(ctx, md)
	}
	if p.auth != nil {
		if ctx, err = p.auth.Authenticate(ctx, service, endpoint, addr); err != nil {
			return nil, err
		}
	}
	settled(ctx) // observe.go: the namespace and account, for the log
	return ctx, nil
}

// clientAddr is the address a call came from. A network peer's address is
// its own, unless it is a trusted proxy (Config.TrustedProxies) forwarding
// x-forwarded-for; only the in-process connection (the gateway, which sets
// micro-client-address by the same rule), over the in-process listener
// or Local (local.go), may name another, so a network
// client cannot pick the address its login attempts count against.
func (p *Proxy) clientAddr(ctx context.Context) string {
	pr, ok := peer.FromContext(ctx)
	if !ok || pr.Addr == nil {
		return ""
	}
	if n := pr.Addr.Network(); n == "bufconn" || n == (localAddr{}).Network() {
		if v, ok := metadata.Get(ctx, metadata.ClientAddress); ok && v != "" {
			return v
		}
		return "inproc"
	}
	md, _ := grpcmd.FromIncomingContext(ctx)
	return p.trusted.Client(pr.Addr.String(), md.Get("x-forwarded-for"))
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
