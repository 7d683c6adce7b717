package gen

import (
	"bytes"
	"context"
	"flag"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

var update = flag.Bool("update", false, "rewrite the committed generated code instead of checking it (make proto)")

// root is the checkout's root, seen from this package.
const root = "../.."

// committed is how the repository's generated code is made: each set of
// .proto files, the import path their names are relative to (output goes
// beside them), and the plugins.
type committed struct {
	dir     string // slash-separated, relative to root
	plugins []string
	files   []string // names relative to dir
}

// committedSets finds the .proto files: proto/** are the blocks' APIs
// (protoc-gen-go and protoc-gen-go-grpc, -I proto); each directory of
// testdata/** with .proto files is a sample service's (protoc-gen-go and
// protoc-gen-micro, -I that directory).
func committedSets(t *testing.T) []committed {
	t.Helper()
	sets := []committed{{dir: "proto", plugins: []string{"go", "go-grpc"}}}
	byDir := map[string]int{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".proto") {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		switch {
		case strings.HasPrefix(rel, "proto/"):
			sets[0].files = append(sets[0].files, strings.TrimPrefix(rel, "proto/"))
		case strings.HasPrefix(rel, "testdata/"):
			dir, name := filepath.ToSlash(filepath.Dir(rel)), filepath.Base(rel)
			i, ok := byDir[dir]
			if !ok {
				i = len(sets)
				byDir[dir] = i
				sets = append(sets, committed{dir: dir, plugins: []string{"go", "micro"}})
			}
			sets[i].files = append(sets[i].files, name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(sets[0].files) == 0 || len(sets) < 2 {
		t.Fatalf("found no .proto files under %s/proto and %s/testdata", root, root)
	}
	return sets
}

// isGenerated reports whether a file name is one the plugins write.
func isGenerated(name string) bool {
	return strings.HasSuffix(name, ".pb.go") || strings.HasSuffix(name, Suffix)
}

// TestGeneratedCode regenerates every committed generated file from its
// .proto and compares bytes (make proto-check); with -update it writes
// them instead (make proto). The committed files were written by protoc
// 3.21.12 with the plugins, so passing means this package writes what
// protoc writes.
func TestGeneratedCode(t *testing.T) {
	want := map[string][]byte{} // path from root -> generated content
	for _, set := range committedSets(t) {
		files, err := Compiler{ImportPaths: []string{filepath.Join(root, set.dir)}, Plugins: set.plugins}.
			Generate(context.Background(), set.files...)
		if err != nil {
			t.Fatalf("%s: %v", set.dir, err)
		}
		for name, data := range files {
			want[set.dir+"/"+name] = data
		}
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		path := filepath.Join(root, filepath.FromSlash(name))
		got, err := os.ReadFile(path)
		if err == nil && bytes.Equal(got, want[name]) {
			continue
		}
		if *update {
			if err := os.WriteFile(path, want[name], 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s", name)
			continue
		}
		if err != nil {
			t.Errorf("%s is missing: run make proto", name)
		} else {
			t.Errorf("%s is stale (not what its .proto generates): run make proto", name)
		}
	}
	for _, dir := range []string{"proto", "testdata"} {
		filepath.WalkDir(filepath.Join(root, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !isGenerated(p) {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			if _, ok := want[filepath.ToSlash(rel)]; ok {
				return nil
			}
			if *update {
				t.Logf("removed %s (no .proto generates it)", rel)
				return os.Remove(p)
			}
			t.Errorf("%s is generated code that no .proto generates: remove it, or run make proto", rel)
			return nil
		})
	}
}

// memory is a Compiler reading files from a map.
func memory(files map[string]string, plugins ...string) Compiler {
	fsys := fstest.MapFS{}
	for name, src := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(src)}
	}
	return Compiler{Plugins: plugins, Open: func(path string) (io.ReadCloser, error) { return fsys.Open(path) }}
}

const service = `syntax = "proto3";
package demo;
option go_package = "example.com/demo/proto;demo";
import "google/protobuf/timestamp.proto";
// Demo answers.
service Demo {
	// Call answers.
	rpc Call(Request) returns (Response) {}
}
message Request { optional string name = 1; google.protobuf.Timestamp at = 2; }
message Response { string msg = 1; }
`

func TestGenerate(t *testing.T) {
	ctx := context.Background()
	files, err := memory(map[string]string{"demo.proto": service}).Generate(ctx, "demo.proto")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 {
		t.Fatalf("wrote %d files, want demo.pb.go and demo.pb.micro.go", len(files))
	}
	for name, want := range map[string][]string{
		"demo.pb.go":       {"// \tprotoc        v3.21.12\n", "timestamppb \"google.golang.org/protobuf/types/known/timestamppb\"", "`protobuf:\"bytes,1,opt,name=name,proto3,oneof\""},
		"demo.pb.micro.go": {"// Call answers.\n", "func NewDemoService(", "\"Demo.Call\""},
	} {
		for _, s := range want {
			if !bytes.Contains(files[name], []byte(s)) {
				t.Errorf("%s lacks %q:\n%s", name, s, files[name])
			}
		}
	}
	// A file without services has no micro code.
	files, err = memory(map[string]string{"m.proto": `syntax = "proto3"; package m; option go_package = "x/m";  message M {}`}).Generate(ctx, "m.proto")
	if err != nil || len(files) != 1 || files["m.pb.go"] == nil {
		t.Errorf("a file without services: %v, %d files", err, len(files))
	}
}

// TestGenerateErrors: bad input gets an error naming the file, the place
// and what is wrong; nothing is written.
func TestGenerateErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		c       Compiler
		files   []string
		wantErr []string
	}{
		{"syntax", memory(map[string]string{"a.proto": "syntax = \"proto3\";\nmessage A { string x = 1 }\nmessage B { int32 y }\n"}), []string{"a.proto"},
			[]string{"a.proto:2:", "a.proto:3:"}},
		{"unknown type", memory(map[string]string{"a.proto": `syntax = "proto3"; option go_package = "x/a"; message A { Nope x = 1; }`}), []string{"a.proto"},
			[]string{"a.proto:1:", "unknown type Nope"}},
		{"missing import", memory(map[string]string{"a.proto": `syntax = "proto3"; import "b.proto";`}), []string{"a.proto"},
			[]string{"b.proto"}},
		{"missing file", memory(nil), []string{"none.proto"}, []string{"none.proto"}},
		{"not a proto", memory(nil), []string{"main.go"}, []string{"main.go: not a .proto file"}},
		{"outside", Compiler{ImportPaths: []string{"proto"}}, []string{"../x.proto"}, []string{"not under an import path"}},
		{"no files", memory(nil), nil, []string{"no .proto files given"}},
		{"no go_package", memory(map[string]string{"a.proto": `syntax = "proto3"; message A {}`}), []string{"a.proto"},
			[]string{"plugin go:", "a.proto", "go_package"}},
		{"no such plugin", memory(map[string]string{"a.proto": `syntax = "proto3"; option go_package = "x/a";`}, "go", "nosuch"), []string{"a.proto"},
			[]string{"plugin nosuch: go tool protoc-gen-nosuch", "go get -tool"}},
	} {
		files, err := tc.c.Generate(ctx, tc.files...)
		if err == nil {
			t.Errorf("%s: no error, wrote %d files", tc.name, len(files))
			continue
		}
		for _, s := range tc.wantErr {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: error %q lacks %q", tc.name, err, s)
			}
		}
	}
}
