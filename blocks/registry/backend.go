package registry

import (
	"context"
	"time"

	pb "micro.dev/micro/proto/registry"
)

// AnyDomain selects every domain in Get and List.
const AnyDomain = "*"

// Backend is where registrations persist. The block's rules (defaults,
// validation, TTLs, domains, events to watchers) live above it in Registry,
// so every backend serves the same API with the same behaviour.
//
// A backend never returns an expired node, nor a service version whose
// nodes have all expired: expiry takes effect at once, whenever the backend
// gets to deleting the rows.
type Backend interface {
	// Register creates or refreshes a service version and its nodes, each
	// live until its Expires. It reports the change a watcher should hear
	// of, nil for a heartbeat that changed nothing.
	Register(ctx context.Context, s Service) (*Change, error)
	// Deregister removes the nodes with the given ids of a service version,
	// or the whole version when ids is empty. It reports the change, nil
	// when nothing was removed.
	Deregister(ctx context.Context, domain, name, version string, ids []string) (*Change, error)
	// Get returns every live version of a service in domain (AnyDomain for
	// all), sorted by domain and version; none is not an error.
	Get(ctx context.Context, domain, name string) ([]Service, error)
	// List returns every live service version in domain (AnyDomain for
	// all), sorted by domain, name and version.
	List(ctx context.Context, domain string) ([]Service, error)
	// Sweep deletes expired nodes, and service versions left without any,
	// and reports the changes.
	Sweep(ctx context.Context) ([]Change, error)
	// Forget deletes every node and service version, live or not, and
	// reports how many nodes there were: at start, what registered with
	// a previous run is not known to be running.
	Forget(ctx context.Context) (int64, error)
}

// Service is one version of a service with its live nodes.
type Service struct {
	Domain, Name, Version string
	Metadata              map[string]string
	Endpoints             []*pb.Endpoint
	Nodes                 []Node
}

// Node is a running instance of a service.
type Node struct {
	ID, Address string
	Metadata    map[string]string
	// Expires is when the node drops out unless it registers again.
	Expires time.Time
}

// Actions of a Change, as Micro's watchers name them.
const (
	ActionCreate = "create"
	ActionUpdate = "update"
	ActionDelete = "delete"
)

// Change is what a write did to one service version: created (its first
// live node), updated (nodes, metadata or endpoints changed) or deleted (no
// live node left). Service is the version after the change; for a delete,
// as it was.
type Change struct {
	Action  string
	Service Service
}
