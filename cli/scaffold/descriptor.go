package scaffold

import (
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"

	"micro.dev/micro/proto/gen"
)

// Comments of the service and its methods, as written in the .proto
// template (template/service.proto.tmpl) and as protoc would report them, so
// the generated code carries them and `make proto` regenerates the same
// files.
var (
	serviceComment = " %s is the service's API. After editing this file, run make proto.\n"
	methodComments = []string{
		" Call answers a name with a greeting.\n",
		" Stream answers with count messages, counting up from 0.\n",
		" PingPong answers every ping with a pong of the same stroke.\n",
	}
)

// descriptor is what protoc makes of template/service.proto.tmpl for n: the
// service with Call, Stream and PingPong and their messages (reference
// §7.5). A test checks it against protoc's own output.
func descriptor(n Names) *descriptorpb.FileDescriptorProto {
	str, i64 := descriptorpb.FieldDescriptorProto_TYPE_STRING, descriptorpb.FieldDescriptorProto_TYPE_INT64
	message := func(name, field string, typ descriptorpb.FieldDescriptorProto_Type) *descriptorpb.DescriptorProto {
		return &descriptorpb.DescriptorProto{
			Name: proto.String(name),
			Field: []*descriptorpb.FieldDescriptorProto{{
				Name:     proto.String(field),
				Number:   proto.Int32(1),
				Label:    descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
				Type:     typ.Enum(),
				JsonName: proto.String(field),
			}},
		}
	}
	typ := func(msg string) *string { return proto.String("." + n.Package + "." + msg) }
	method := func(name, in, out string, clientStream, serverStream bool) *descriptorpb.MethodDescriptorProto {
		m := &descriptorpb.MethodDescriptorProto{
			Name:       proto.String(name),
			InputType:  typ(in),
			OutputType: typ(out),
			// "{}" after an rpc gives it empty options, which protoc records.
			Options: &descriptorpb.MethodOptions{},
		}
		if clientStream {
			m.ClientStreaming = proto.Bool(true)
		}
		if serverStream {
			m.ServerStreaming = proto.Bool(true)
		}
		return m
	}
	comment := func(text string, path ...int32) *descriptorpb.SourceCodeInfo_Location {
		// protodesc wants a span; nothing generated from it reads it.
		return &descriptorpb.SourceCodeInfo_Location{Path: path, Span: []int32{0, 0, 0}, LeadingComments: proto.String(text)}
	}
	// Paths in SourceCodeInfo: 6 = FileDescriptorProto.service, 2 =
	// ServiceDescriptorProto.method.
	locations := []*descriptorpb.SourceCodeInfo_Location{comment(fmt.Sprintf(serviceComment, n.Title), 6, 0)}
	for i, c := range methodComments {
		locations = append(locations, comment(c, 6, 0, 2, int32(i)))
	}
	return &descriptorpb.FileDescriptorProto{
		Name:    proto.String(n.Proto),
		Package: proto.String(n.Package),
		MessageType: []*descriptorpb.DescriptorProto{
			message("Message", "say", str),
			message("Request", "name", str),
			message("Response", "msg", str),
			message("StreamingRequest", "count", i64),
			message("StreamingResponse", "count", i64),
			message("Ping", "stroke", i64),
			message("Pong", "stroke", i64),
		},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: proto.String(n.Title),
			Method: []*descriptorpb.MethodDescriptorProto{
				method("Call", "Request", "Response", false, false),
				method("Stream", "StreamingRequest", "StreamingResponse", false, true),
				method("PingPong", "Ping", "Pong", true, true),
			},
		}},
		Options:        &descriptorpb.FileOptions{GoPackage: proto.String(n.GoPackage())},
		SourceCodeInfo: &descriptorpb.SourceCodeInfo{Location: locations},
		Syntax:         proto.String("proto3"),
	}
}

// generate writes what protoc-gen-go and protoc-gen-micro write for the
// service's proto (paths=source_relative), without protoc: file name (in
// proto/) to contents.
func generate(n Names) (map[string][]byte, error) {
	return gen.Generate(&pluginpb.CodeGeneratorRequest{
		FileToGenerate: []string{n.Proto},
		Parameter:      proto.String("paths=source_relative"),
		ProtoFile:      []*descriptorpb.FileDescriptorProto{descriptor(n)},
	})
}
