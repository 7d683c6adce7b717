package node

import (
	"context"

	"google.golang.org/grpc"

	"micro.dev/micro/gateway"
	"micro.dev/micro/router"
)

// gatewayRouter routes the gateway's calls with the router (package router),
// and sends every one of them through the proxy in-process: blocks are
// served there, and calls to other services are forwarded from there, so an
// HTTP call meets exactly the interceptors (identity, rules, recovery) a
// gRPC call to the proxy meets. The route tells the gateway whether the
// endpoint streams, and an unknown service or endpoint fails here already.
type gatewayRouter struct {
	router *router.Router
	conn   grpc.ClientConnInterface
}

func (g *gatewayRouter) Route(ctx context.Context, namespace, service, endpoint string) (gateway.Route, error) {
	r, err := g.router.Resolve(ctx, namespace, service, endpoint)
	if err != nil {
		return gateway.Route{}, err
	}
	return gateway.Route{Conn: g.conn, ServerStream: r.ServerStream, ClientStream: r.ClientStream}, nil
}
