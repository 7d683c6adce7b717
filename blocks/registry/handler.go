package registry

import (
	"context"
	"net"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"micro.dev/micro/blocks/internal/failure"
	"micro.dev/micro/framework/auth"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
	pb "micro.dev/micro/proto/registry"
	"micro.dev/micro/schema"
)

const errID = "registry"

// Limits on a registration; a request over them gets a 400.
const (
	// MaxRegistrationSize bounds one registration, endpoints included.
	MaxRegistrationSize = 1 << 20
	maxNameSize         = 255
	// watchBuffer is how many changes a Watch stream may fall behind
	// before it is ended (the watcher then watches again).
	watchBuffer = 256
)

// handler serves pb.RegistryServer for a Registry (a separate type, since
// the block's own Register serves the gRPC service).
type handler struct {
	pb.UnimplementedRegistryServer
	r *Registry
}

// Server returns the registry.Registry gRPC server of r.
func (r *Registry) Server() pb.RegistryServer { return &handler{r: r} }

// Access is Micro's rule for what the registry shows and takes, with authz
// deciding who belongs to a namespace. Every view of registered services
// (this block's and the network block's) passes it: Register and
// Deregister need an administrator of the domain; reading the "micro"
// domain is public, reading another needs an account of it; the wildcard
// domain needs an administrator of "micro".
func Access(ctx context.Context, authz auth.Authorizer, domain string, write bool) error {
	switch {
	case domain == AnyDomain:
		return authz.Check(ctx, metadata.DefaultNamespace, true)
	case write:
		return authz.Check(ctx, domain, true)
	case domain == metadata.DefaultNamespace:
		return authz.Public()
	}
	return authz.Check(ctx, domain, false)
}

// scope decides the domain of a call, options first, then the caller's
// namespace, and checks the caller may act on it.
func (h *handler) scope(ctx context.Context, o *pb.Options, write bool) (string, error) {
	domain := o.GetDomain()
	if domain == "" {
		domain = metadata.NamespaceFrom(ctx)
	}
	if domain == AnyDomain {
		if write {
			return "", errors.BadRequest(errID, "a service is registered in one domain, not in every domain (*)")
		}
	} else if err := checkName("domain", domain); err != nil {
		return "", err
	}
	if err := Access(ctx, h.r.authz, domain, write); err != nil {
		return "", err
	}
	return domain, nil
}

// checkName accepts names a gateway path can carry: letters, digits, '.',
// '_' and '-', with no empty dot-separated label.
func checkName(what, s string) error {
	if s == "" {
		return errors.BadRequest(errID, "%s is required", what)
	}
	if len(s) > maxNameSize {
		return errors.BadRequest(errID, "%s is %d bytes; the limit is %d", what, len(s), maxNameSize)
	}
	prev := byte('.')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return errors.BadRequest(errID, "%s %q has %q; use letters, digits, '.', '_' and '-'", what, s, c)
		}
		if c == '.' && prev == '.' {
			return errors.BadRequest(errID, "%s %q has an empty label", what, s)
		}
		prev = c
	}
	if prev == '.' {
		return errors.BadRequest(errID, "%s %q ends with '.'", what, s)
	}
	return nil
}

func checkVersion(v string) (string, error) {
	if v == "" {
		return "latest", nil
	}
	if len(v) > maxNameSize {
		return "", errors.BadRequest(errID, "version is %d bytes; the limit is %d", len(v), maxNameSize)
	}
	for i := 0; i < len(v); i++ {
		if v[i] <= ' ' || v[i] > '~' {
			return "", errors.BadRequest(errID, "version %q has a space or a non-printable character", v)
		}
	}
	return v, nil
}

func checkNode(n *pb.Node) error {
	if n == nil {
		return errors.BadRequest(errID, "a node is empty")
	}
	if n.Id == "" || len(n.Id) > maxNameSize {
		return errors.BadRequest(errID, "node id is required (at most %d bytes)", maxNameSize)
	}
	host, port, err := net.SplitHostPort(n.Address)
	if err != nil || host == "" {
		return errors.BadRequest(errID, "node %s: address %q is not host:port", n.Id, n.Address)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return errors.BadRequest(errID, "node %s: address %q has no valid port", n.Id, n.Address)
	}
	return nil
}

// Register adds or refreshes a service version's nodes for options.ttl
// seconds (default 90).
func (h *handler) Register(ctx context.Context, svc *pb.Service) (*pb.EmptyResponse, error) {
	domain, err := h.scope(ctx, svc.GetOptions(), true)
	if err != nil {
		return nil, err
	}
	if size := proto.Size(svc); size > MaxRegistrationSize {
		return nil, errors.BadRequest(errID, "registration is %d bytes; the limit is %d", size, MaxRegistrationSize)
	}
	if err := checkName("service name", svc.GetName()); err != nil {
		return nil, err
	}
	version, err := checkVersion(svc.GetVersion())
	if err != nil {
		return nil, err
	}
	if len(svc.GetNodes()) == 0 {
		return nil, errors.BadRequest(errID, "service %s: a registration needs at least one node (id and host:port address)", svc.Name)
	}
	for _, n := range svc.Nodes {
		if err := checkNode(n); err != nil {
			return nil, err
		}
	}
	ttl := DefaultTTL
	switch t := svc.GetOptions().GetTtl(); {
	case t < 0 || time.Duration(t) > MaxTTL/time.Second:
		return nil, errors.BadRequest(errID, "ttl is %d; give seconds from 1 to %d, or 0 for the default (%d)",
			t, int64(MaxTTL/time.Second), int64(DefaultTTL/time.Second))
	case t > 0:
		ttl = time.Duration(t) * time.Second
	}
	if len(h.r.localServices(svc.Name)) > 0 {
		return nil, errors.Conflict(errID, "%s is a micro block service; choose another name", svc.Name)
	}
	expires := h.r.now().Add(ttl)
	s := Service{Domain: domain, Name: svc.Name, Version: version, Metadata: svc.Metadata, Endpoints: svc.Endpoints}
	for _, n := range svc.Nodes {
		s.Nodes = append(s.Nodes, Node{ID: n.Id, Address: n.Address, Metadata: h.r.stamped(n.Metadata), Expires: expires})
	}
	change, err := h.r.backend.Register(ctx, s)
	if err != nil {
		return nil, h.r.failed(ctx, "register", err)
	}
	if change != nil {
		h.r.publish(*change)
	}
	return &pb.EmptyResponse{}, nil
}

// Deregister removes the given nodes of a service version, or the whole
// version when none are given. Removing what is not there is not an error.
func (h *handler) Deregister(ctx context.Context, svc *pb.Service) (*pb.EmptyResponse, error) {
	domain, err := h.scope(ctx, svc.GetOptions(), true)
	if err != nil {
		return nil, err
	}
	if err := checkName("service name", svc.GetName()); err != nil {
		return nil, err
	}
	version, err := checkVersion(svc.GetVersion())
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, n := range svc.GetNodes() {
		if n.GetId() == "" {
			return nil, errors.BadRequest(errID, "node id is required")
		}
		ids = append(ids, n.Id)
	}
	change, err := h.r.backend.Deregister(schema.Freeing(ctx), domain, svc.Name, version, ids)
	if err != nil {
		return nil, h.r.failed(ctx, "deregister", err)
	}
	if change != nil {
		h.r.publish(*change)
	}
	return &pb.EmptyResponse{}, nil
}

// GetService returns every live version of a service: a block service
// hosted in-process, else a registered one. Not found is a 404.
func (h *handler) GetService(ctx context.Context, req *pb.GetRequest) (*pb.GetResponse, error) {
	domain, err := h.scope(ctx, req.GetOptions(), false)
	if err != nil {
		return nil, err
	}
	if req.GetService() == "" {
		return nil, errors.BadRequest(errID, "service is required")
	}
	if local := h.r.localServices(req.Service); len(local) > 0 {
		return &pb.GetResponse{Services: local}, nil
	}
	svcs, err := h.r.backend.Get(ctx, domain, req.Service)
	if err != nil {
		return nil, h.r.failed(ctx, "get service", err)
	}
	if len(svcs) == 0 {
		return nil, errors.NotFound(errID, "service not found: %s", req.Service)
	}
	rsp := &pb.GetResponse{Services: make([]*pb.Service, len(svcs))}
	for i, s := range svcs {
		rsp.Services[i] = toProto(s)
	}
	return rsp, nil
}

// ListServices returns the block services and every live registered
// service version of the domain.
func (h *handler) ListServices(ctx context.Context, req *pb.ListRequest) (*pb.ListResponse, error) {
	domain, err := h.scope(ctx, req.GetOptions(), false)
	if err != nil {
		return nil, err
	}
	svcs, err := h.r.backend.List(ctx, domain)
	if err != nil {
		return nil, h.r.failed(ctx, "list services", err)
	}
	rsp := &pb.ListResponse{Services: h.r.localServices("")}
	for _, s := range svcs {
		rsp.Services = append(rsp.Services, toProto(s))
	}
	return rsp, nil
}

// Watch streams every change to the domain's services (to one service when
// req.service is set) until the caller goes away. A watcher that falls
// more than watchBuffer changes behind is ended with a 503 and should
// watch again.
func (h *handler) Watch(req *pb.WatchRequest, stream grpc.ServerStreamingServer[pb.Result]) error {
	ctx := stream.Context()
	domain, err := h.scope(ctx, req.GetOptions(), false)
	if err != nil {
		return err
	}
	ch := make(chan *pb.Result, watchBuffer)
	overflow := make(chan struct{})
	var once sync.Once
	cancel := h.r.Subscribe(func(res *pb.Result) {
		if domain != AnyDomain && res.GetService().GetOptions().GetDomain() != domain {
			return
		}
		if req.GetService() != "" && res.GetService().GetName() != req.Service {
			return
		}
		select {
		case ch <- res:
		default:
			once.Do(func() { close(overflow) })
		}
	})
	defer cancel()
	// Headers now, so the watcher knows it is subscribed before any change.
	if err := stream.SendHeader(nil); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-h.r.ctx.Done():
			return errors.ServiceUnavailable(errID, "the registry is shutting down")
		case <-overflow:
			return errors.ServiceUnavailable(errID, "watcher fell more than %d changes behind; watch again", watchBuffer)
		case res := <-ch:
			if err := stream.Send(res); err != nil {
				return err
			}
		}
	}
}

// failed logs a storage failure and returns the 500 the caller sees; a
// caller that went away gets its context's error instead.
func (r *Registry) failed(ctx context.Context, what string, err error) error {
	return failure.Answer(ctx, r.log, errID, what, err)
}
