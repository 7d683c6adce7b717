package gen

import (
	"fmt"

	gengo "google.golang.org/protobuf/cmd/protoc-gen-go/internal_gengo"
	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/types/pluginpb"
)

// Generate does what `protoc --go_out --micro_out` does with a parsed
// request: it runs protoc-gen-go's generator and this package's on every
// file to generate, and returns the files written, by name. It lets the
// micro binary produce a service's code without protoc or plugins on the
// machine (micro new builds the request from its own descriptors).
func Generate(req *pluginpb.CodeGeneratorRequest) (map[string][]byte, error) {
	plugin, err := protogen.Options{}.New(req)
	if err != nil {
		return nil, err
	}
	plugin.SupportedFeatures = gengo.SupportedFeatures
	plugin.SupportedEditionsMinimum = gengo.SupportedEditionsMinimum
	plugin.SupportedEditionsMaximum = gengo.SupportedEditionsMaximum
	for _, f := range plugin.Files {
		if f.Generate {
			gengo.GenerateFile(plugin, f)
			GenerateFile(plugin, f)
		}
	}
	rsp := plugin.Response()
	if rsp.Error != nil {
		return nil, fmt.Errorf("generating code: %s", rsp.GetError())
	}
	out := make(map[string][]byte, len(rsp.File))
	for _, f := range rsp.File {
		out[f.GetName()] = []byte(f.GetContent())
	}
	return out, nil
}
