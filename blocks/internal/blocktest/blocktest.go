// Package blocktest serves a block's gRPC API in its tests as a given
// caller, as the proxy does once it has resolved a token: the block's own
// namespace checks then run on a real account.
package blocktest

import (
	"context"

	"google.golang.org/grpc"

	"micro.dev/micro/framework/auth"
)

// Admin is the default admin (admin of namespace micro), who may act in
// every namespace.
var Admin = &auth.Account{ID: "admin", Type: auth.TypeUser, Issuer: "micro", Name: "admin", Scopes: []string{auth.ScopeAdmin}}

// As returns server options that make acc the caller of every call;
// nil leaves calls anonymous.
func As(acc *auth.Account) []grpc.ServerOption {
	as := func(ctx context.Context) context.Context {
		if acc == nil {
			return ctx
		}
		return auth.ContextWithAccount(ctx, acc)
	}
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			return h(as(ctx), req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			return h(srv, stream{ss, as(ss.Context())})
		}),
	}
}

type stream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s stream) Context() context.Context { return s.ctx }
