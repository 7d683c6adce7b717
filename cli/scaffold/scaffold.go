// Package scaffold writes a new micro service (micro new): main.go, a
// handler with Call, Stream and PingPong, the .proto with its Go code
// already generated (by proto/gen, as the service's make proto does), a
// Makefile, README.md, .gitignore, and a go.mod + go.sum that build
// against the framework offline.
package scaffold

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"go/format"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	"micro.dev/micro/proto/gen"
)

//go:embed template/*.tmpl
var templates embed.FS

// file is one file of a new service.
type file struct {
	path string // slash-separated, relative to the service's directory
	data []byte
}

// render makes the new service's files, in the order Create lists them.
func render(n Names, fw Framework) ([]file, error) {
	tmpl, err := template.ParseFS(templates, "template/*.tmpl")
	if err != nil {
		return nil, err
	}
	execute := func(name string, gofmt bool) ([]byte, error) {
		var b bytes.Buffer
		if err := tmpl.ExecuteTemplate(&b, name, n); err != nil {
			return nil, err
		}
		if !gofmt {
			return b.Bytes(), nil
		}
		out, err := format.Source(b.Bytes())
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", name, err)
		}
		return out, nil
	}
	var files []file
	add := func(path, tmplName string, gofmt bool) error {
		data, err := execute(tmplName, gofmt)
		if err == nil {
			files = append(files, file{path, data})
		}
		return err
	}
	if err := errors.Join(
		add("main.go", "main.go.tmpl", true),
		add("handler/"+n.Service+".go", "handler.go.tmpl", true),
		add("proto/"+n.Proto, "service.proto.tmpl", false),
	); err != nil {
		return nil, err
	}
	generated, err := generate(n, files[len(files)-1].data)
	if err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(n.Proto, ".proto")
	for _, name := range []string{base + ".pb.go", base + ".pb.micro.go"} {
		data, ok := generated[name]
		if !ok {
			return nil, fmt.Errorf("code generation wrote no %s", name)
		}
		files = append(files, file{"proto/" + name, data})
	}
	if len(generated) != 2 {
		return nil, fmt.Errorf("code generation wrote %d files, want 2", len(generated))
	}
	if err := errors.Join(
		add("Makefile", "Makefile.tmpl", false),
		add("README.md", "README.md.tmpl", false),
		add(".gitignore", "gitignore.tmpl", false),
	); err != nil {
		return nil, err
	}
	gomod, gosum, err := goModules(n, fw)
	if err != nil {
		return nil, err
	}
	return append(files, file{"go.mod", gomod}, file{"go.sum", gosum}), nil
}

// generate writes the Go code of the service's .proto (src) as the
// service's make proto does (go tool micro-proto -I proto): file name (in
// proto/) to contents.
func generate(n Names, src []byte) (map[string][]byte, error) {
	return gen.Compiler{Open: func(path string) (io.ReadCloser, error) {
		if path != n.Proto {
			return nil, fs.ErrNotExist // google/protobuf/*.proto come built in
		}
		return io.NopCloser(bytes.NewReader(src)), nil
	}}.Generate(context.Background(), n.Proto)
}

// Create writes the new service into n.Dir, which must not exist yet (its
// parents are made as needed), and returns the paths it wrote,
// slash-separated and relative to n.Dir. On failure it removes what it
// wrote.
func Create(n Names, fw Framework) ([]string, error) {
	files, err := render(n, fw)
	if err != nil {
		return nil, err
	}
	if _, err := os.Lstat(n.Dir); err == nil {
		return nil, fmt.Errorf("directory %s already exists: choose another name, or remove it first", n.Dir)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(n.Dir), 0o755); err != nil {
		return nil, err
	}
	// Mkdir, not MkdirAll: of two micro new racing, one loses here.
	if err := os.Mkdir(n.Dir, 0o755); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("directory %s already exists: choose another name, or remove it first", n.Dir)
		}
		return nil, err
	}
	paths := make([]string, 0, len(files))
	for _, f := range files {
		p := filepath.Join(n.Dir, filepath.FromSlash(f.path))
		err := os.MkdirAll(filepath.Dir(p), 0o755)
		if err == nil {
			err = os.WriteFile(p, f.data, 0o644)
		}
		if err != nil {
			os.RemoveAll(n.Dir)
			return nil, err
		}
		paths = append(paths, f.path)
	}
	return paths, nil
}

// Tree draws paths (slash-separated, in order; a directory's files
// together) as a tree under ".", as micro new prints it.
func Tree(paths []string) string {
	type node struct {
		name     string
		children []*node
	}
	root := &node{name: "."}
	for _, p := range paths {
		cur := root
		for _, part := range strings.Split(p, "/") {
			var next *node
			for _, c := range cur.children {
				if c.name == part {
					next = c
				}
			}
			if next == nil {
				next = &node{name: part}
				cur.children = append(cur.children, next)
			}
			cur = next
		}
	}
	var b strings.Builder
	b.WriteString(".\n")
	var walk func(n *node, indent string)
	walk = func(n *node, indent string) {
		for i, c := range n.children {
			branch, more := "├── ", "│   "
			if i == len(n.children)-1 {
				branch, more = "└── ", "    "
			}
			b.WriteString(indent + branch + c.name + "\n")
			walk(c, indent+more)
		}
	}
	walk(root, "")
	return b.String()
}
