package runtime

import (
	"errors"
	"fmt"

	pb "micro.dev/micro/proto/runtime"
)

// Errors, Micro's.
var (
	ErrAlreadyExists   = errors.New("already exists")
	ErrInvalidResource = errors.New("invalid resource")
	ErrNotFound        = errors.New("not found")
)

// Resource types.
const (
	TypeNamespace     = "namespace"
	TypeNetworkPolicy = "networkpolicy"
	TypeResourceQuota = "resourcequota"
	TypeService       = "service"
)

// Resource is what the runtime creates, updates and deletes. The local
// runtime runs services; it answers the other kinds with a 501 saying so.
type Resource interface {
	String() string
	Type() string
}

// ServiceStatus is where a service is in its life.
type ServiceStatus int

// Statuses, Micro's.
const (
	Unknown ServiceStatus = iota
	Pending
	Building
	Starting
	Running
	Stopping
	Stopped
	Error
)

func (s ServiceStatus) String() string {
	names := []string{"unknown", "pending", "building", "starting", "running", "stopping", "stopped", "error"}
	if s < 0 || int(s) >= len(names) {
		return "undefined"
	}
	return names[s]
}

// Service is a service the runtime runs from Source: a git URL, a
// directory on the server's machine, or an upload (source://name:version).
type Service struct {
	Name     string
	Version  string
	Source   string
	Metadata map[string]string
	Status   ServiceStatus
}

// NewService returns the service name at version ("latest" when empty).
func NewService(name, version string) (*Service, error) {
	if name == "" {
		return nil, ErrInvalidResource
	}
	if version == "" {
		version = "latest"
	}
	return &Service{Name: name, Version: version}, nil
}

func (s *Service) String() string {
	return fmt.Sprintf("service://%s@%s:%s", s.Metadata["namespace"], s.Name, s.Version)
}

// Type is TypeService.
func (*Service) Type() string { return TypeService }

// Namespace is a namespace resource.
type Namespace struct{ Name string }

// NewNamespace returns namespace name.
func NewNamespace(name string) (*Namespace, error) {
	if name == "" {
		return nil, ErrInvalidResource
	}
	return &Namespace{Name: name}, nil
}

func (n *Namespace) String() string { return n.Name }

// Type is TypeNamespace.
func (*Namespace) Type() string { return TypeNamespace }

// NetworkPolicy is a network policy resource.
type NetworkPolicy struct {
	AllowedLabels   map[string]string
	Name, Namespace string
}

func (n *NetworkPolicy) String() string { return n.Namespace + "." + n.Name }

// Type is TypeNetworkPolicy.
func (*NetworkPolicy) Type() string { return TypeNetworkPolicy }

// Resources are memory and disk in MiB and CPU in millicores.
type Resources struct{ CPU, Mem, Disk int }

// ResourceQuota is a resource quota resource.
type ResourceQuota struct {
	Name, Namespace  string
	Requests, Limits *Resources
}

func (r *ResourceQuota) String() string { return r.Namespace + "." + r.Name }

// Type is TypeResourceQuota.
func (*ResourceQuota) Type() string { return TypeResourceQuota }

func toProto(r Resource) (*pb.Resource, error) {
	switch r := r.(type) {
	case *Service:
		if r == nil || r.Name == "" {
			return nil, ErrInvalidResource
		}
		return &pb.Resource{Service: &pb.Service{Name: r.Name, Version: r.Version, Source: r.Source,
			Metadata: r.Metadata, Status: int32(r.Status)}}, nil
	case *Namespace:
		if r == nil || r.Name == "" {
			return nil, ErrInvalidResource
		}
		return &pb.Resource{Namespace: &pb.Namespace{Name: r.Name}}, nil
	case *NetworkPolicy:
		if r == nil {
			return nil, ErrInvalidResource
		}
		return &pb.Resource{Networkpolicy: &pb.NetworkPolicy{Name: r.Name, Namespace: r.Namespace, Allowedlabels: r.AllowedLabels}}, nil
	case *ResourceQuota:
		if r == nil {
			return nil, ErrInvalidResource
		}
		return &pb.Resource{Resourcequota: &pb.ResourceQuota{Name: r.Name, Namespace: r.Namespace,
			Requests: resources(r.Requests), Limits: resources(r.Limits)}}, nil
	}
	return nil, ErrInvalidResource
}

func resources(r *Resources) *pb.Resources {
	if r == nil {
		return nil
	}
	return &pb.Resources{Cpu: int32(r.CPU), Memory: int32(r.Mem), EphemeralStorage: int32(r.Disk)}
}
