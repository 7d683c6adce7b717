package testkit

import (
	"context"

	"google.golang.org/grpc"

	"micro.dev/micro/framework/codec"
)

// EchoService is a one-method gRPC service, echo.Echo/Call, that answers
// with its request as it came (a codec.Frame, whatever the codec):
// register it with struct{}{} where a test or benchmark needs something
// trivial behind a proxy.
var EchoService = grpc.ServiceDesc{
	ServiceName: "echo.Echo",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Call",
		Handler: func(srv any, ctx context.Context, dec func(any) error, in grpc.UnaryServerInterceptor) (any, error) {
			var f codec.Frame
			if err := dec(&f); err != nil {
				return nil, err
			}
			h := func(ctx context.Context, req any) (any, error) { return req, nil }
			if in == nil {
				return h(ctx, &f)
			}
			return in(ctx, &f, &grpc.UnaryServerInfo{Server: srv, FullMethod: "/echo.Echo/Call"}, h)
		},
	}},
}
