// Package metadata reads and writes the request metadata that travels with a
// call: gRPC headers on the wire, HTTP headers at the gateway. Keys are
// case-insensitive, as HTTP and gRPC treat them.
package metadata

import (
	"context"
	"strings"

	"google.golang.org/grpc/metadata"
)

// Well-known keys.
const (
	Authorization = "authorization"
	Namespace     = "micro-namespace"
	Timeout       = "timeout" // nanoseconds
	// ClientAddress is the address a call came from, as the door that took
	// it saw it. The proxy sets it on every call it serves; it trusts a
	// value already there only from the in-process gateway, which sets it
	// from the HTTP connection (never from a client's header).
	ClientAddress = "micro-client-address"
)

// DefaultNamespace is the namespace of a call that names none.
const DefaultNamespace = "micro"

// Metadata is a set of key/value pairs with lower-case keys.
type Metadata map[string]string

// FromContext returns the metadata a server received with the call in ctx.
func FromContext(ctx context.Context) Metadata {
	md, _ := metadata.FromIncomingContext(ctx)
	out := make(Metadata, len(md))
	for k, v := range md {
		out[strings.ToLower(k)] = strings.Join(v, ",")
	}
	return out
}

// Get returns the value of key in the incoming metadata of ctx.
func Get(ctx context.Context, key string) (string, bool) {
	// Not FromIncomingContext: that copies every key of the call's
	// metadata, and this runs several times per call.
	v := metadata.ValueFromIncomingContext(ctx, key)
	if len(v) == 0 {
		return "", false
	}
	return strings.Join(v, ","), true
}

// NamespaceFrom returns the namespace of the incoming call in ctx, or
// DefaultNamespace when it names none.
func NamespaceFrom(ctx context.Context) string {
	if ns, ok := Get(ctx, Namespace); ok && ns != "" {
		return ns
	}
	return DefaultNamespace
}

// NewContext returns ctx carrying md as outgoing metadata, merged over any
// outgoing metadata ctx already has.
func NewContext(ctx context.Context, md Metadata) context.Context {
	out, _ := metadata.FromOutgoingContext(ctx) // a copy, ours to change
	if out == nil {
		out = make(metadata.MD, len(md))
	}
	for k, v := range md {
		out.Set(strings.ToLower(k), v)
	}
	return metadata.NewOutgoingContext(ctx, out)
}

// Set returns ctx with key=value added to its outgoing metadata.
func Set(ctx context.Context, key, value string) context.Context {
	return NewContext(ctx, Metadata{key: value})
}
