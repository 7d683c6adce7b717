package proxy

import (
	"sort"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"micro.dev/micro/framework/server"
	regpb "micro.dev/micro/proto/registry"
)

// Services describes the block services hosted here as the registry lists
// services: one per block ("store" for store.Store), an endpoint per method
// ("Store.Read") with request and response shapes from the proto
// descriptors, and one node, the proxy at address. gRPC's own services
// (health, reflection) are left out.
func (p *Proxy) Services(address, nodeID string) []*regpb.Service {
	byName := map[string]*regpb.Service{}
	for full, info := range p.server.GetServiceInfo() {
		// gRPC's own services (health, reflection) and the node's own
		// (micro.admin) are not building blocks to list.
		if strings.HasPrefix(full, "grpc.") || strings.HasPrefix(full, "micro.") {
			continue
		}
		i := strings.LastIndex(full, ".")
		if i <= 0 {
			continue
		}
		name, handler := full[:i], full[i+1:]
		svc := byName[name]
		if svc == nil {
			svc = &regpb.Service{
				Name:     name,
				Version:  "latest",
				Metadata: map[string]string{"block": "true"},
				Nodes: []*regpb.Node{{Id: name + "-" + nodeID, Address: address,
					Metadata: map[string]string{"protocol": "grpc", "server": "micro", "domain": "*"}}},
				Options: &regpb.Options{Domain: "*"},
			}
			byName[name] = svc
		}
		var desc protoreflect.ServiceDescriptor
		if d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(full)); err == nil {
			desc, _ = d.(protoreflect.ServiceDescriptor)
		}
		for _, m := range info.Methods {
			ep := &regpb.Endpoint{Name: handler + "." + m.Name}
			if desc != nil {
				if md := desc.Methods().ByName(protoreflect.Name(m.Name)); md != nil {
					ep.Request = server.ProtoValue(md.Input())
					ep.Response = server.ProtoValue(md.Output())
				}
			}
			if m.IsServerStream || m.IsClientStream {
				ep.Metadata = map[string]string{"stream": "true",
					"server_stream": boolString(m.IsServerStream), "client_stream": boolString(m.IsClientStream)}
			}
			svc.Endpoints = append(svc.Endpoints, ep)
		}
	}
	out := make([]*regpb.Service, 0, len(byName))
	for _, s := range byName {
		sort.Slice(s.Endpoints, func(i, j int) bool { return s.Endpoints[i].Name < s.Endpoints[j].Name })
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
