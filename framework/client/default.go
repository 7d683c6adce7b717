package client

import (
	"os"
	"strings"
	"sync/atomic"

	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
)

// The default client is the running service's: service.New installs its
// client here and Stop removes it again. The package-level functions of the
// block clients (store.Read, config.Get, events.Publish, broker.Subscribe,
// ...) call through it, so code inside a service needs no client in hand,
// as in Micro. Tests and programs talking to several servers build block
// clients explicitly instead (store.NewStore(c), config.NewConfig(c), ...).
var defaultClient atomic.Pointer[holder]

// holder lets an interface value live in an atomic.Pointer.
type holder struct{ c Client }

// Default returns the default client, or nil when none is installed (no
// service.New has run yet, or its service stopped).
func Default() Client {
	if h := defaultClient.Load(); h != nil {
		return h.c
	}
	return nil
}

// SetDefault installs c as the default client; nil removes it. The last
// call wins: a process that builds two services uses the later one's.
func SetDefault(c Client) {
	if c == nil {
		defaultClient.Store(nil)
		return
	}
	defaultClient.Store(&holder{c: c})
}

// ClearDefault removes c as the default client if it still is the default,
// so a stopped service leaves a later one's client alone.
func ClearDefault(c Client) {
	if h := defaultClient.Load(); h != nil && h.c == c {
		defaultClient.CompareAndSwap(h, nil)
	}
}

// ErrNoDefault is what a package-level block call returns when there is no
// default client.
var ErrNoDefault = errors.InternalServerError(clientID,
	"no default client: create the service with service.New first, or build the block client from a client (e.g. store.NewStore(c))")

// DefaultOrError returns the default client, or ErrNoDefault.
func DefaultOrError() (Client, error) {
	if c := Default(); c != nil {
		return c, nil
	}
	return nil, ErrNoDefault
}

// Identity is what a client knows about the service it calls for. Block
// clients take their defaults from it: the namespace is the store's
// database, config's tree and the events' and broker's topic space; the
// service name is the store's table.
type Identity interface {
	// Namespace is the namespace calls are made in.
	Namespace() string
	// ServiceName is the name of the service the client belongs to; "" for
	// a client that belongs to none.
	ServiceName() string
}

// NamespaceOf is c's namespace when c has an Identity, else MICRO_NAMESPACE,
// else "micro".
func NamespaceOf(c Client) string {
	if id, ok := c.(Identity); ok && id.Namespace() != "" {
		return id.Namespace()
	}
	if ns := strings.TrimSpace(os.Getenv("MICRO_NAMESPACE")); ns != "" {
		return ns
	}
	return metadata.DefaultNamespace
}

// ServiceNameOf is the name of c's service when c has an Identity that
// names one, else MICRO_SERVICE_NAME, else "".
func ServiceNameOf(c Client) string {
	if id, ok := c.(Identity); ok && id.ServiceName() != "" {
		return id.ServiceName()
	}
	return strings.TrimSpace(os.Getenv("MICRO_SERVICE_NAME"))
}

// Namespace is the namespace the client's calls are made in.
func (c *GRPCClient) Namespace() string { return c.opts.Namespace }

// ServiceName is the name of the service the client belongs to
// (Options.Service).
func (c *GRPCClient) ServiceName() string { return c.opts.Service }
