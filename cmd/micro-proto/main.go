// Command micro-proto generates Go code from .proto files without protoc:
//
//	micro-proto -I proto helloworld.proto
//
// writes proto/helloworld.pb.go (protoc-gen-go) and
// proto/helloworld.pb.micro.go (protoc-gen-micro), byte for byte what
//
//	protoc -I proto --go_out=paths=source_relative:proto --micro_out=paths=source_relative:proto helloworld.proto
//
// writes. -plugins picks the generators: go and micro run inside it; any
// other NAME runs `go tool protoc-gen-NAME` from the current module (e.g.
// go-grpc, after go get -tool google.golang.org/grpc/cmd/protoc-gen-go-grpc).
// Services made by micro new run it from their Makefile (make proto) as
// `go tool micro-proto`.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"

	"micro.dev/micro/proto/gen"
)

// importPaths is the repeatable -I flag.
type importPaths []string

func (p *importPaths) String() string     { return strings.Join(*p, " ") }
func (p *importPaths) Set(v string) error { *p = append(*p, v); return nil }

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "micro-proto:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("micro-proto", flag.ContinueOnError)
	var imports importPaths
	fs.Var(&imports, "I", "directory the .proto files' names and imports are relative to (repeatable; default .)")
	out := fs.String("out", "", "directory to write the generated files to (default: the first -I)")
	plugins := fs.String("plugins", "go,micro", "generators to run, comma-separated: go, micro, or NAME for go tool protoc-gen-NAME")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: micro-proto [-I dir]... [-out dir] [-plugins go,micro] file.proto...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return fmt.Errorf("no .proto files given")
	}
	dir := *out
	if dir == "" {
		dir = "."
		if len(imports) > 0 {
			dir = imports[0]
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	files, err := gen.Compiler{ImportPaths: imports, Plugins: strings.Split(*plugins, ",")}.Generate(ctx, fs.Args()...)
	if err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		path := filepath.Join(dir, filepath.FromSlash(name))
		// An unchanged file keeps its time, so watchers (micro run)
		// do not rebuild for nothing.
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, files[name]) {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, files[name], 0o644); err != nil {
			return err
		}
	}
	return nil
}
