package gateway

import (
	"context"

	"google.golang.org/grpc"

	"micro.dev/micro/framework/errors"
)

// Router finds where a call goes. The node supplies it: the network block's
// router, answering for the blocks served in-process and for registered
// services.
//
// Route returns an error when it cannot route: ErrServiceNotFound (or an
// error wrapping it, or a micro error with the same code whose detail starts
// "service not found") for an unknown service, a micro NotFound error for an
// unknown endpoint of a known service, anything else as it sees fit. The
// gateway answers with errors.FromError of what Route returns.
type Router interface {
	Route(ctx context.Context, namespace, service, endpoint string) (Route, error)
}

// RouterFunc lets a plain function serve as a Router.
type RouterFunc func(ctx context.Context, namespace, service, endpoint string) (Route, error)

// Route calls f.
func (f RouterFunc) Route(ctx context.Context, namespace, service, endpoint string) (Route, error) {
	return f(ctx, namespace, service, endpoint)
}

// Route is where one call goes and what shape it has.
type Route struct {
	// Conn reaches a server hosting the endpoint.
	Conn grpc.ClientConnInterface
	// ServerStream and ClientStream describe the endpoint as its gRPC
	// method does; either makes the gateway open a stream instead of a
	// unary call.
	ServerStream, ClientStream bool
}

// ErrServiceNotFound is what a Router returns for a service it does not know.
// It is Micro's answer, byte for byte: a 500 with id "micro" and detail
// "service not found" (Micro treated it as a server fault, and clients match
// on it, so we keep it rather than answering 404).
var ErrServiceNotFound error = errors.ServiceNotFound("")
