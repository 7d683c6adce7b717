package gen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"strings"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/protoutil"
	"github.com/bufbuild/protocompile/reporter"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"
)

// protocVersion is the protoc release this package stands in for. Plugins
// print the compiler's version in the header of what they write; the
// committed code was written by protoc 3.21.12, whose parsing protocompile
// reproduces, so claiming it keeps regenerated files byte-identical.
var protocVersion = &pluginpb.Version{Major: proto.Int32(3), Minor: proto.Int32(21), Patch: proto.Int32(12), Suffix: proto.String("")}

// Compiler turns .proto files into Go code as protoc with plugins does,
// byte for byte, without protoc: github.com/bufbuild/protocompile parses
// and links the files, and the plugins get the CodeGeneratorRequest protoc
// would send them.
type Compiler struct {
	// ImportPaths are the directories that the files' names and their
	// imports are relative to (protoc's -I). None: the current directory.
	// The well-known google/protobuf/*.proto need no import path.
	ImportPaths []string
	// Open reads the file at path (an import path joined with a name); it
	// must return an error matching fs.ErrNotExist for a missing file.
	// Nil: the file system.
	Open func(path string) (io.ReadCloser, error)
	// Plugins are the generators to run, in order: "go" (protoc-gen-go)
	// and "micro" (this package) run in-process; any other NAME runs
	// `go tool protoc-gen-NAME` in the current directory's module, as
	// protoc runs a plugin. None: go and micro.
	Plugins []string
}

// Request parses files (names relative to an import path, or paths on
// disk under one) and returns what protoc sends a plugin for them: the
// files and everything they import, dependencies first, with source info
// (comments) and json names, and paths=source_relative.
func (c Compiler) Request(ctx context.Context, files ...string) (*pluginpb.CodeGeneratorRequest, error) {
	if len(files) == 0 {
		return nil, errors.New("no .proto files given")
	}
	names := make([]string, len(files))
	for i, f := range files {
		name, err := c.name(f)
		if err != nil {
			return nil, err
		}
		names[i] = name
	}
	var errs []error
	comp := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
			ImportPaths: c.ImportPaths,
			Accessor:    c.Open,
		}),
		SourceInfoMode: protocompile.SourceInfoStandard,
		// Every error, not just the first, as protoc reports them; a
		// file's errors are bounded by its size.
		Reporter: reporter.NewReporter(func(err reporter.ErrorWithPos) error {
			errs = append(errs, err)
			return nil
		}, nil),
	}
	linked, err := comp.Compile(ctx, names...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err != nil {
		return nil, err
	}
	req := &pluginpb.CodeGeneratorRequest{
		FileToGenerate:  names,
		Parameter:       proto.String("paths=source_relative"),
		CompilerVersion: protocVersion,
	}
	// protoc's order: each file after what it imports, each file once.
	seen := map[string]bool{}
	var add func(fd protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		imports := fd.Imports()
		for i := 0; i < imports.Len(); i++ {
			add(imports.Get(i).FileDescriptor)
		}
		req.ProtoFile = append(req.ProtoFile, protoutil.ProtoFromFileDescriptor(fd))
	}
	for _, f := range linked {
		add(f)
	}
	return req, nil
}

// name turns a file argument into the name protoc gives it: a path under
// an import path loses that prefix (protoc -I proto proto/a/a.proto is
// a/a.proto); anything else is taken as a name already.
func (c Compiler) name(file string) (string, error) {
	if !strings.HasSuffix(file, ".proto") {
		return "", fmt.Errorf("%s: not a .proto file", file)
	}
	clean := filepath.ToSlash(filepath.Clean(file))
	for _, dir := range c.ImportPaths {
		dir = filepath.ToSlash(filepath.Clean(dir))
		if dir == "." {
			continue
		}
		if rest, ok := strings.CutPrefix(clean, dir+"/"); ok {
			return rest, nil
		}
	}
	if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("%s is not under an import path (-I %s)", file, strings.Join(c.ImportPaths, " -I "))
	}
	return clean, nil
}

// protoFiles is the request's descriptors by name.
func protoFiles(req *pluginpb.CodeGeneratorRequest) map[string]*descriptorpb.FileDescriptorProto {
	m := make(map[string]*descriptorpb.FileDescriptorProto, len(req.ProtoFile))
	for _, f := range req.ProtoFile {
		m[f.GetName()] = f
	}
	return m
}
