// Package registry is the registry block's read client for services: which
// services run, their versions, endpoints and nodes. (Registering is done by
// the service itself: framework/service.)
//
// Inside a service the package-level functions use the service's client
// (installed by service.New) and look in the service's namespace.
//
//	svcs, err := registry.GetService("helloworld") // registry.ErrNotFound when none runs
//	all, err := registry.ListServices()
//	w, err := registry.Watch(registry.WatchService("helloworld"))
//	res, err := w.Next() // res.Action is create, update or delete
//
// The types are the registry's protobuf messages.
package registry

import (
	"context"

	"micro.dev/micro/framework/client"
	"micro.dev/micro/framework/errors"
	pb "micro.dev/micro/proto/registry"
)

const errID = "go.micro.registry"

// ErrNotFound is what GetService returns when no node of the service is
// registered; it is a micro 404.
var ErrNotFound = errors.NotFound(errID, "service not found")

// The registry's records.
type (
	Service  = pb.Service
	Node     = pb.Node
	Endpoint = pb.Endpoint
	Value    = pb.Value
)

// Options are the settings of one call.
type Options struct {
	// Domain is the namespace to look in; default the client's. "*" looks
	// in every namespace (an administrator of micro only).
	Domain string
}

// Option sets an Options field.
type Option func(*Options)

// Domain looks in namespace d instead of the client's.
func Domain(d string) Option { return func(o *Options) { o.Domain = d } }

// Registry reads the registry.
type Registry interface {
	// GetService returns every registered version of the service.
	GetService(name string, opts ...Option) ([]*Service, error)
	// ListServices returns every service (blocks included), without
	// nodes or endpoints.
	ListServices(opts ...Option) ([]*Service, error)
	// Watch follows registrations and deregistrations (watch.go).
	Watch(opts ...WatchOption) (Watcher, error)
}

type rpcRegistry struct{ c client.Client }

// NewRegistry returns a Registry calling the registry block through c.
func NewRegistry(c client.Client) Registry { return &rpcRegistry{c: c} }

func options(opts []Option) *pb.Options {
	var o Options
	for _, opt := range opts {
		opt(&o)
	}
	return &pb.Options{Domain: o.Domain}
}

func (r *rpcRegistry) GetService(name string, opts ...Option) ([]*Service, error) {
	rsp := new(pb.GetResponse)
	req := &pb.GetRequest{Service: name, Options: options(opts)}
	if err := r.c.Call(context.Background(), r.c.NewRequest("registry", "Registry.GetService", req), rsp); err != nil {
		if errors.Code(err) == 404 {
			return nil, ErrNotFound
		}
		return nil, err
	}
	return rsp.GetServices(), nil
}

func (r *rpcRegistry) ListServices(opts ...Option) ([]*Service, error) {
	rsp := new(pb.ListResponse)
	req := &pb.ListRequest{Options: options(opts)}
	if err := r.c.Call(context.Background(), r.c.NewRequest("registry", "Registry.ListServices", req), rsp); err != nil {
		return nil, err
	}
	return rsp.GetServices(), nil
}

// GetService looks the service up through the service's client.
func GetService(name string, opts ...Option) ([]*Service, error) {
	c, err := client.DefaultOrError()
	if err != nil {
		return nil, err
	}
	return NewRegistry(c).GetService(name, opts...)
}

// ListServices lists services through the service's client.
func ListServices(opts ...Option) ([]*Service, error) {
	c, err := client.DefaultOrError()
	if err != nil {
		return nil, err
	}
	return NewRegistry(c).ListServices(opts...)
}
