// Command protoc-gen-micro is a protoc plugin generating micro clients and
// handlers for the services of .proto files:
//
//	protoc --go_out=. --micro_out=. proto/helloworld.proto
//
// writes proto/helloworld.pb.micro.go next to protoc-gen-go's output (see
// package micro.dev/micro/proto/gen for what it holds).
package main

import (
	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/types/pluginpb"

	"micro.dev/micro/proto/gen"
)

func main() {
	protogen.Options{}.Run(func(p *protogen.Plugin) error {
		p.SupportedFeatures = uint64(pluginpb.CodeGeneratorResponse_FEATURE_PROTO3_OPTIONAL)
		for _, f := range p.Files {
			if f.Generate {
				gen.GenerateFile(p, f)
			}
		}
		return nil
	})
}
