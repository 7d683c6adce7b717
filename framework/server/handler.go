package server

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"

	regpb "micro.dev/micro/proto/registry"
)

// HandlerOption configures one Handle call.
type HandlerOption func(*handlerOptions)

type handlerOptions struct {
	internal bool
	metadata map[string]map[string]string // endpoint -> metadata
	streams  map[string][2]reflect.Type   // method or endpoint -> request, response
}

// EndpointMetadata adds metadata to the registry entry of an endpoint, named
// "Handler.Method" (or just "Method").
func EndpointMetadata(name string, md map[string]string) HandlerOption {
	return func(o *handlerOptions) {
		if o.metadata == nil {
			o.metadata = map[string]map[string]string{}
		}
		o.metadata[name] = md
	}
}

// InternalHandler serves the handler without listing its endpoints in the
// registry.
func InternalHandler(internal bool) HandlerOption {
	return func(o *handlerOptions) { o.internal = internal }
}

// StreamTypes names the messages a streaming endpoint (named "Method" or
// "Handler.Method") receives and sends, so the registry can describe them:
// a stream's signature carries only a Stream. Generated code sets it; pass
// nil for a side that is not known.
func StreamTypes(name string, req, rsp any) HandlerOption {
	return func(o *handlerOptions) {
		if o.streams == nil {
			o.streams = map[string][2]reflect.Type{}
		}
		o.streams[name] = [2]reflect.Type{reflect.TypeOf(req), reflect.TypeOf(rsp)}
	}
}

// kind is the shape of an endpoint.
type kind int

const (
	unary        kind = iota // func(ctx, *Req, *Rsp) error
	serverStream             // func(ctx, *Req, Stream) error
	bidiStream               // func(ctx, Stream) error
)

// endpoint is one method of a handler, ready to be called.
type endpoint struct {
	name     string // Handler.Method
	method   string
	kind     kind
	fn       reflect.Value // bound to the handler value
	req, rsp reflect.Type  // pointer types; nil when not known (streams)
	metadata map[string]string
}

// handler is a value given to Handle, its type name and endpoints.
type handler struct {
	name      string
	internal  bool
	endpoints []*endpoint
}

var (
	contextType = reflect.TypeFor[context.Context]()
	errorType   = reflect.TypeFor[error]()
	streamImpl  = reflect.TypeFor[*stream]()
)

// newHandler finds the endpoints of h: every exported method of one of the
// three shapes. Methods of other shapes are not endpoints.
func newHandler(h any, opts []HandlerOption) (*handler, error) {
	var o handlerOptions
	for _, opt := range opts {
		opt(&o)
	}
	if h == nil {
		return nil, fmt.Errorf("handler is nil")
	}
	v := reflect.ValueOf(h)
	t := v.Type()
	name := deref(t).Name()
	if name == "" {
		return nil, fmt.Errorf("handler of type %s has no type name; endpoints are named <TypeName>.<Method>", t)
	}
	hd := &handler{name: name, internal: o.internal}
	for i := 0; i < t.NumMethod(); i++ {
		m := t.Method(i)
		if !m.IsExported() {
			continue
		}
		ep := shape(v.Method(i))
		if ep == nil {
			continue
		}
		ep.method = m.Name
		ep.name = name + "." + m.Name
		if ep.kind != unary {
			for _, key := range []string{m.Name, ep.name} {
				if types, ok := o.streams[key]; ok {
					ep.req, ep.rsp = types[0], types[1]
				}
			}
		}
		ep.metadata = map[string]string{}
		switch ep.kind {
		case serverStream:
			ep.metadata["stream"] = "true"
			ep.metadata["server_stream"] = "true"
		case bidiStream:
			ep.metadata["stream"] = "true"
			ep.metadata["server_stream"] = "true"
			ep.metadata["client_stream"] = "true"
		}
		for _, key := range []string{m.Name, ep.name} {
			for k, val := range o.metadata[key] {
				ep.metadata[k] = val
			}
		}
		hd.endpoints = append(hd.endpoints, ep)
	}
	if len(hd.endpoints) == 0 {
		return nil, fmt.Errorf("handler %s has no endpoints: want exported methods func(context.Context, *Req, *Rsp) error, "+
			"func(context.Context, *Req, server.Stream) error or func(context.Context, server.Stream) error", name)
	}
	return hd, nil
}

// shape matches a bound method against the endpoint signatures.
func shape(fn reflect.Value) *endpoint {
	t := fn.Type()
	if t.NumOut() != 1 || t.Out(0) != errorType || t.NumIn() < 2 || t.NumIn() > 3 || t.In(0) != contextType {
		return nil
	}
	isStream := func(p reflect.Type) bool { return p.Kind() == reflect.Interface && streamImpl.Implements(p) }
	isMsg := func(p reflect.Type) bool { return p.Kind() == reflect.Pointer }
	switch {
	case t.NumIn() == 2 && isStream(t.In(1)):
		return &endpoint{kind: bidiStream, fn: fn}
	case t.NumIn() == 3 && isMsg(t.In(1)) && isMsg(t.In(2)):
		return &endpoint{kind: unary, fn: fn, req: t.In(1), rsp: t.In(2)}
	case t.NumIn() == 3 && isMsg(t.In(1)) && isStream(t.In(2)):
		return &endpoint{kind: serverStream, fn: fn, req: t.In(1)}
	}
	return nil
}

// registryEndpoints describes the endpoints for the registry, sorted by name.
func (h *handler) registryEndpoints() []*regpb.Endpoint {
	out := make([]*regpb.Endpoint, 0, len(h.endpoints))
	for _, ep := range h.endpoints {
		e := &regpb.Endpoint{Name: ep.name, Request: ValueOf(ep.req), Response: ValueOf(ep.rsp)}
		if len(ep.metadata) > 0 {
			e.Metadata = ep.metadata
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// endpointNames lists "Handler.Method" of every endpoint in hs but the
// internal ones (Debug's), sorted.
func endpointNames(hs []*handler) string {
	var names []string
	for _, h := range hs {
		if h.internal {
			continue
		}
		for _, ep := range h.endpoints {
			names = append(names, ep.name)
		}
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
