package proxy

import (
	"context"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/reflection"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	rpbalpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"micro.dev/micro/framework/metadata"
	"micro.dev/micro/router"
)

// reflectionRouter is what server reflection needs of the router, beyond
// Resolve: routes that name no endpoint, and the registered gRPC services.
type reflectionRouter interface {
	Service(ctx context.Context, namespace, service string) (*router.Route, error)
	GRPCServices(ctx context.Context, namespace string) (map[string][]string, error)
}

// remoteFilesTTL is how long descriptors fetched from a service are kept.
const remoteFilesTTL = time.Minute

// reflector serves gRPC server reflection for the whole platform, so that
// grpcurl and other reflecting clients can call registered services
// through the proxy: the blocks are described from this binary's
// descriptors, registered services by asking one of their nodes (micro
// services serve reflection too) and keeping the answer for a while.
// Reflection describes the services of namespace "micro" (and the
// blocks); the resolver interface carries no caller.
type reflector struct {
	p *Proxy

	mu      sync.Mutex
	remote  *protoregistry.Files
	fetched time.Time
}

// registerReflection serves reflection (v1 and v1alpha) on p's server.
func (p *Proxy) registerReflection() {
	r := &reflector{p: p}
	opts := reflection.ServerOptions{Services: r, DescriptorResolver: r}
	rpb.RegisterServerReflectionServer(p.server, reflection.NewServerV1(opts))
	rpbalpha.RegisterServerReflectionServer(p.server, reflection.NewServer(opts))
}

func (r *reflector) router() reflectionRouter {
	h := r.p.router.Load()
	if h == nil {
		return nil
	}
	rr, _ := h.r.(reflectionRouter)
	return rr
}

// GetServiceInfo lists the blocks and the registered services.
func (r *reflector) GetServiceInfo() map[string]grpc.ServiceInfo {
	info := r.p.server.GetServiceInfo()
	rr := r.router()
	if rr == nil {
		return info
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	remote, err := rr.GRPCServices(ctx, metadata.DefaultNamespace)
	if err != nil {
		return info
	}
	for name, methods := range remote {
		if _, ok := info[name]; ok {
			continue
		}
		si := grpc.ServiceInfo{}
		for _, m := range methods {
			si.Methods = append(si.Methods, grpc.MethodInfo{Name: m})
		}
		info[name] = si
	}
	return info
}

// FindFileByPath finds a file among this binary's and those fetched.
func (r *reflector) FindFileByPath(path string) (protoreflect.FileDescriptor, error) {
	if fd, err := protoregistry.GlobalFiles.FindFileByPath(path); err == nil {
		return fd, nil
	}
	if files := r.cached(); files != nil {
		return files.FindFileByPath(path)
	}
	return nil, protoregistry.NotFound
}

// FindDescriptorByName finds a symbol among this binary's descriptors,
// else asks the service it belongs to: the longest prefix of the symbol
// that names a registered service ("helloworld" for
// "helloworld.Helloworld").
func (r *reflector) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	if d, err := protoregistry.GlobalFiles.FindDescriptorByName(name); err == nil {
		return d, nil
	}
	if files := r.cached(); files != nil {
		if d, err := files.FindDescriptorByName(name); err == nil {
			return d, nil
		}
	}
	rr := r.router()
	if rr == nil {
		return nil, protoregistry.NotFound
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for svc := string(name); strings.Contains(svc, "."); {
		svc = svc[:strings.LastIndex(svc, ".")]
		route, err := rr.Service(ctx, metadata.DefaultNamespace, svc)
		if err != nil || route.Local {
			continue
		}
		files, err := fetchFiles(ctx, route.Conn, string(name))
		if err != nil {
			continue
		}
		r.mu.Lock()
		r.remote, r.fetched = files, time.Now()
		r.mu.Unlock()
		return files.FindDescriptorByName(name)
	}
	return nil, protoregistry.NotFound
}

func (r *reflector) cached() *protoregistry.Files {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.remote == nil || time.Since(r.fetched) > remoteFilesTTL {
		return nil
	}
	return r.remote
}

// fetchFiles asks a service's reflection for the file defining symbol and
// the files it imports, and links them.
func fetchFiles(ctx context.Context, conn grpc.ClientConnInterface, symbol string) (*protoregistry.Files, error) {
	stream, err := rpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		return nil, err
	}
	defer stream.CloseSend()
	if err := stream.Send(&rpb.ServerReflectionRequest{
		MessageRequest: &rpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: symbol},
	}); err != nil {
		return nil, err
	}
	rsp, err := stream.Recv()
	if err != nil {
		return nil, err
	}
	fds := rsp.GetFileDescriptorResponse()
	if fds == nil {
		return nil, protoregistry.NotFound
	}
	set := &descriptorpb.FileDescriptorSet{}
	for _, b := range fds.FileDescriptorProto {
		fdp := new(descriptorpb.FileDescriptorProto)
		if err := proto.Unmarshal(b, fdp); err != nil {
			return nil, err
		}
		set.File = append(set.File, fdp)
	}
	return protodesc.NewFiles(set)
}
