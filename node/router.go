package node

import (
	"context"
	"strings"

	"google.golang.org/grpc"

	"micro.dev/micro/framework/errors"
	"micro.dev/micro/gateway"
	"micro.dev/micro/proxy"
)

// localRouter routes the gateway's calls to the blocks hosted in the proxy.
type localRouter struct {
	proxy *proxy.Proxy
	conn  grpc.ClientConnInterface
}

func (r *localRouter) Route(ctx context.Context, namespace, service, endpoint string) (gateway.Route, error) {
	handler, method, _ := strings.Cut(endpoint, ".")
	services := r.proxy.Methods()
	found := false
	for name, info := range services {
		if !strings.HasPrefix(name, service+".") {
			continue
		}
		found = true
		if name != service+"."+handler {
			continue
		}
		for _, m := range info.Methods {
			if m.Name == method {
				return gateway.Route{Conn: r.conn, ServerStream: m.IsServerStream, ClientStream: m.IsClientStream}, nil
			}
		}
	}
	if !found {
		return gateway.Route{}, errors.InternalServerError("micro", "service not found")
	}
	return gateway.Route{}, errors.NotFound("micro", "service %s has no endpoint %s", service, endpoint)
}
