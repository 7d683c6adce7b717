// Command protoc-gen-micro is a protoc plugin generating micro clients and
// handlers for the services of .proto files:
//
//	protoc --go_out=. --micro_out=. proto/helloworld.proto
//
// writes proto/helloworld.pb.micro.go next to protoc-gen-go's output (see
// package micro.dev/micro/proto/gen for what it holds). micro-proto runs
// the same generator without protoc.
package main

import (
	"google.golang.org/protobuf/compiler/protogen"

	"micro.dev/micro/proto/gen"
)

func main() {
	protogen.Options{}.Run(gen.Micro)
}
