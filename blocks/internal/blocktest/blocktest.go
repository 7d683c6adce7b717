// Package blocktest serves a block's gRPC API in its tests as a given
// caller, as the proxy does once it has resolved a token: the block's own
// namespace checks then run on a real account. It also runs a block's
// tests over both its backends.
package blocktest

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"

	"micro.dev/micro/framework/auth"
	"micro.dev/micro/internal/natstest"
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

// EachBackend runs test over both backends a block has, as subtests:
// "sqlite" with no options, and "jetstream" with the options jetStream
// makes for a fresh single embedded JetStream server.
func EachBackend[O any](t *testing.T, jetStream func(js jetstream.JetStream) []O, test func(t *testing.T, with ...O)) {
	t.Run("sqlite", func(t *testing.T) { test(t) })
	t.Run("jetstream", func(t *testing.T) {
		test(t, jetStream(natstest.Connect(t, natstest.Server(t)))...)
	})
}
