package gen

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"

	gengo "google.golang.org/protobuf/cmd/protoc-gen-go/internal_gengo"
	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"
)

// inProcess are the plugins that run inside this process, by name.
var inProcess = map[string]func(*protogen.Plugin) error{
	"go":    Go,
	"micro": Micro,
}

// Go is protoc-gen-go, run on a plugin's files.
func Go(p *protogen.Plugin) error {
	return generateEach(p, func(f *protogen.File) { gengo.GenerateFile(p, f) })
}

// Micro is protoc-gen-micro, run on a plugin's files: the micro code of
// each file with services (see GenerateFile).
func Micro(p *protogen.Plugin) error {
	return generateEach(p, func(f *protogen.File) { GenerateFile(p, f) })
}

// generateEach runs generate on each file to generate. Both generators
// take what protoc-gen-go takes (the micro one reads only services, so the
// syntax of messages does not matter to it).
func generateEach(p *protogen.Plugin, generate func(*protogen.File)) error {
	p.SupportedFeatures = gengo.SupportedFeatures
	p.SupportedEditionsMinimum = gengo.SupportedEditionsMinimum
	p.SupportedEditionsMaximum = gengo.SupportedEditionsMaximum
	for _, f := range p.Files {
		if f.Generate {
			generate(f)
		}
	}
	return nil
}

// Generate compiles files (see Request) and runs the plugins on them, as
// protoc --NAME_out=paths=source_relative:DIR would for each: it returns
// what they write, by name relative to DIR.
func (c Compiler) Generate(ctx context.Context, files ...string) (map[string][]byte, error) {
	req, err := c.Request(ctx, files...)
	if err != nil {
		return nil, err
	}
	plugins := c.Plugins
	if len(plugins) == 0 {
		plugins = []string{"go", "micro"}
	}
	out := map[string][]byte{}
	for _, name := range plugins {
		rsp, err := runPlugin(ctx, name, req)
		if err != nil {
			return nil, err
		}
		if err := supports(name, req, rsp); err != nil {
			return nil, err
		}
		for _, f := range rsp.File {
			switch {
			case f.GetInsertionPoint() != "":
				return nil, fmt.Errorf("plugin %s: insertion points are not supported (%s)", name, f.GetName())
			case f.GetName() == "" || strings.HasPrefix(f.GetName(), "/") || strings.Contains("/"+f.GetName()+"/", "/../"):
				return nil, fmt.Errorf("plugin %s: wrote a file named %q, outside the output directory", name, f.GetName())
			}
			if _, dup := out[f.GetName()]; dup {
				return nil, fmt.Errorf("plugin %s: %s was written by another plugin too", name, f.GetName())
			}
			out[f.GetName()] = []byte(f.GetContent())
		}
	}
	return out, nil
}

// runPlugin runs the plugin name on req and returns its answer.
func runPlugin(ctx context.Context, name string, req *pluginpb.CodeGeneratorRequest) (*pluginpb.CodeGeneratorResponse, error) {
	var rsp *pluginpb.CodeGeneratorResponse
	if run, ok := inProcess[name]; ok {
		// Each plugin gets its own copy, as from protoc's pipe.
		p, err := protogen.Options{}.New(proto.Clone(req).(*pluginpb.CodeGeneratorRequest))
		if err != nil {
			return nil, fmt.Errorf("plugin %s: %w", name, err)
		}
		if err := run(p); err != nil {
			p.Error(err)
		}
		rsp = p.Response()
	} else {
		var err error
		if rsp, err = goTool(ctx, "protoc-gen-"+name, req); err != nil {
			return nil, fmt.Errorf("plugin %s: %w", name, err)
		}
	}
	if rsp.Error != nil {
		return nil, fmt.Errorf("plugin %s: %s", name, rsp.GetError())
	}
	return rsp, nil
}

// goTool runs `go tool <tool>` as protoc runs a plugin: the request on its
// stdin, the response from its stdout.
func goTool(ctx context.Context, tool string, req *pluginpb.CodeGeneratorRequest) (*pluginpb.CodeGeneratorResponse, error) {
	in, err := proto.Marshal(req)
	if err != nil {
		return nil, err
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "go", "tool", tool)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(in), &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if strings.Contains(msg, "no such tool") {
			msg += fmt.Sprintf(" (add its module to go.mod: go get -tool <module path>/cmd/%s)", tool)
		}
		return nil, fmt.Errorf("go tool %s: %v: %s", tool, err, msg)
	}
	rsp := new(pluginpb.CodeGeneratorResponse)
	if err := proto.Unmarshal(stdout.Bytes(), rsp); err != nil {
		return nil, fmt.Errorf("go tool %s: reading its response: %w", tool, err)
	}
	return rsp, nil
}

// supports refuses a plugin's output for files using what it says it does
// not support (proto3 optional, editions), as protoc does: such a plugin
// would write wrong code.
func supports(name string, req *pluginpb.CodeGeneratorRequest, rsp *pluginpb.CodeGeneratorResponse) error {
	features := rsp.GetSupportedFeatures()
	files := protoFiles(req)
	for _, fname := range req.FileToGenerate {
		f := files[fname]
		if f.GetSyntax() == "editions" && features&uint64(pluginpb.CodeGeneratorResponse_FEATURE_SUPPORTS_EDITIONS) == 0 {
			return fmt.Errorf("%s uses editions, which plugin %s does not support", fname, name)
		}
		if hasProto3Optional(f.MessageType) && features&uint64(pluginpb.CodeGeneratorResponse_FEATURE_PROTO3_OPTIONAL) == 0 {
			return fmt.Errorf("%s has optional fields in proto3, which plugin %s does not support", fname, name)
		}
	}
	return nil
}

func hasProto3Optional(msgs []*descriptorpb.DescriptorProto) bool {
	for _, m := range msgs {
		for _, f := range m.Field {
			if f.GetProto3Optional() {
				return true
			}
		}
		if hasProto3Optional(m.NestedType) {
			return true
		}
	}
	return false
}
