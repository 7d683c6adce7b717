// Package network is the network block: Micro's network.Network API
// (Services, Nodes, Routes) describing what the router (package router)
// routes calls to, shown no further than the registry would show it.
package network

import (
	"context"
	"sort"

	"google.golang.org/grpc"

	"micro.dev/micro/blocks/registry"
	"micro.dev/micro/framework/auth"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
	pb "micro.dev/micro/proto/network"
	regpb "micro.dev/micro/proto/registry"
	"micro.dev/micro/router"
)

// Network serves Micro's network.Network API over a router: the services
// it can route to, the micro nodes of the network (this one: a network of
// several nodes is planned) and the routes to every service node.
type Network struct {
	pb.UnimplementedNetworkServer
	router *router.Router
	authz  auth.Authorizer
	node   Node
	peers  func() []Node // WithPeers
}

// Option configures New.
type Option func(*Network)

// WithPeers lists the other micro nodes of this node's cluster (micro
// server --cluster) for Nodes and Graph.
func WithPeers(fn func() []Node) Option { return func(n *Network) { n.peers = fn } }

// Node identifies this micro node in the API: its id and the address of
// its proxy, where the blocks' routes lead.
type Node struct{ ID, Address string }

// New returns the network block for r on node self. What it shows of a
// namespace's services passes the registry's Access rule with authz; nil
// refuses every call.
func New(r *router.Router, authz auth.Authorizer, self Node, opts ...Option) *Network {
	n := &Network{router: r, authz: authz, node: self}
	for _, o := range opts {
		o(n)
	}
	return n
}

// Register serves the network.Network service on gs.
func (n *Network) Register(gs grpc.ServiceRegistrar) { pb.RegisterNetworkServer(gs, n) }

// Start does nothing: the router caches as calls come.
func (n *Network) Start(context.Context) error { return nil }

// EndStreams does nothing: the Network API has no long-lived streams (calls
// the router forwards end with the gRPC server).
func (n *Network) EndStreams() {}

// Close closes the router's connections to service nodes; call it once the
// gRPC server has stopped. The error is always nil: Close is an io.Closer.
func (n *Network) Close() error {
	n.router.Close()
	return nil
}

// Services lists the services calls in the caller's namespace can reach:
// the blocks, the namespace's services and those of "micro".
func (n *Network) Services(ctx context.Context, _ *pb.ServicesRequest) (*pb.ServicesResponse, error) {
	routes, err := n.routes(ctx, metadata.NamespaceFrom(ctx), true)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	rsp := &pb.ServicesResponse{}
	for _, r := range routes {
		if !seen[r.Service] {
			seen[r.Service] = true
			rsp.Services = append(rsp.Services, r.Service)
		}
	}
	sort.Strings(rsp.Services)
	return rsp, nil
}

// Nodes lists the micro nodes of the network: this one, and in a cluster
// the others up.
func (n *Network) Nodes(ctx context.Context, _ *pb.NodesRequest) (*pb.NodesResponse, error) {
	if err := n.access(ctx, metadata.DefaultNamespace); err != nil {
		return nil, err
	}
	return &pb.NodesResponse{Nodes: append([]*pb.Node{n.self()}, n.others()...)}, nil
}

func (n *Network) self() *pb.Node { return nodeProto(n.node) }

func nodeProto(nd Node) *pb.Node {
	return &pb.Node{Id: nd.ID, Address: nd.Address, Network: metadata.DefaultNamespace,
		Status: &pb.Status{Error: &pb.Error{}}}
}

// others are the cluster's other nodes, by id.
func (n *Network) others() []*pb.Node {
	if n.peers == nil {
		return nil
	}
	var out []*pb.Node
	for _, p := range n.peers() {
		if p.ID != n.node.ID {
			out = append(out, nodeProto(p))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Id < out[j].Id })
	return out
}

// Graph returns the network seen from this node: it alone.
func (n *Network) Graph(ctx context.Context, _ *pb.GraphRequest) (*pb.GraphResponse, error) {
	if err := n.access(ctx, metadata.DefaultNamespace); err != nil {
		return nil, err
	}
	root := &pb.Peer{Node: n.self()}
	for _, o := range n.others() {
		root.Peers = append(root.Peers, &pb.Peer{Node: o})
	}
	return &pb.GraphResponse{Root: root}, nil
}

// Status reports the node's health: serving, no errors.
func (n *Network) Status(ctx context.Context, _ *pb.StatusRequest) (*pb.StatusResponse, error) {
	if err := n.access(ctx, metadata.DefaultNamespace); err != nil {
		return nil, err
	}
	return &pb.StatusResponse{Status: &pb.Status{Error: &pb.Error{}}}, nil
}

// Connect would join other micro nodes at run time. Nodes join a cluster
// when they start (micro server --cluster, --cluster-peers): JetStream
// needs its peers configured at start. It would change the "micro"
// network: its administrators only.
func (n *Network) Connect(ctx context.Context, _ *pb.ConnectRequest) (*pb.ConnectResponse, error) {
	if err := n.authz.Check(ctx, metadata.DefaultNamespace, true); err != nil {
		return nil, err
	}
	return nil, errors.NotImplemented("network", "micro nodes join a cluster when they start, not at run time: "+
		"start each with micro server --cluster nats://HOST:PORT --cluster-peers host:port,... (see micro cluster status)")
}

// Routes lists a route per service node: the blocks through this node's
// proxy (link "local", metric 0), registered services to their nodes (link
// "network", metric 1). query.network picks the namespace ("*": all; by
// default the caller's, plus "micro"); the other query fields filter.
func (n *Network) Routes(ctx context.Context, req *pb.RoutesRequest) (*pb.RoutesResponse, error) {
	q := req.GetQuery()
	domain, withDefault := q.GetNetwork(), false
	if domain == "" {
		domain, withDefault = metadata.NamespaceFrom(ctx), true
	}
	routes, err := n.routes(ctx, domain, withDefault)
	if err != nil {
		return nil, err
	}
	rsp := &pb.RoutesResponse{}
	for _, r := range routes {
		if (q.GetService() == "" || q.Service == r.Service) &&
			(q.GetAddress() == "" || q.Address == r.Address) &&
			(q.GetGateway() == "" || q.Gateway == r.Gateway) &&
			(q.GetRouter() == "" || q.Router == r.Router) {
			rsp.Routes = append(rsp.Routes, r)
		}
	}
	return rsp, nil
}

// access is the registry's rule for reading domain's services: the
// network shows no more of a namespace than the registry does.
func (n *Network) access(ctx context.Context, domain string) error {
	return registry.Access(ctx, n.authz, domain, false)
}

// routes builds every route of domain ("*": all), with "micro"'s too when
// withDefault. The caller must be allowed to read each domain listed.
func (n *Network) routes(ctx context.Context, domain string, withDefault bool) ([]*pb.Route, error) {
	domains := []string{domain}
	if withDefault && domain != metadata.DefaultNamespace && domain != registry.AnyDomain {
		domains = append(domains, metadata.DefaultNamespace)
	}
	for _, d := range domains {
		if err := n.access(ctx, d); err != nil {
			return nil, err
		}
	}
	var out []*pb.Route
	for _, name := range n.router.LocalServices() {
		out = append(out, &pb.Route{Service: name, Address: n.node.Address, Network: metadata.DefaultNamespace,
			Router: n.node.ID, Link: "local", Metric: 0})
	}
	for _, d := range domains {
		svcs, err := n.router.Registered(ctx, d)
		if err != nil {
			return nil, errors.InternalServerError("network", "listing services: %v", err)
		}
		out = append(out, registeredRoutes(svcs, n.node.ID)...)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		return out[i].Address < out[j].Address
	})
	return out, nil
}

func registeredRoutes(svcs []*regpb.Service, router string) []*pb.Route {
	var out []*pb.Route
	for _, s := range svcs {
		for _, node := range s.Nodes {
			out = append(out, &pb.Route{Service: s.Name, Address: node.Address, Network: s.GetOptions().GetDomain(),
				Router: router, Link: "network", Metric: 1, Metadata: node.Metadata})
		}
	}
	return out
}
