package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const demo = `syntax = "proto3";
package demo;
option go_package = "example.com/demo/proto/v1;demo";
service Demo { rpc Call(Request) returns (Response) {} }
message Request { string name = 1; }
message Response { string msg = 1; }
`

// TestRun writes the Go and micro code beside the .proto (names relative
// to -I, paths on disk under it taken as names), leaves unchanged files
// untouched, and refuses bad input without writing.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	protoDir := filepath.Join(dir, "proto")
	os.MkdirAll(filepath.Join(protoDir, "v1"), 0o755)
	src := filepath.Join(protoDir, "v1", "demo.proto")
	if err := os.WriteFile(src, []byte(demo), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"-I", protoDir, src}); err != nil {
		t.Fatal(err)
	}
	pbgo, micro := filepath.Join(protoDir, "v1", "demo.pb.go"), filepath.Join(protoDir, "v1", "demo.pb.micro.go")
	for _, p := range []string{pbgo, micro} {
		data, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(data), "// source: v1/demo.proto") {
			t.Fatalf("%s: %v\n%s", p, err, data)
		}
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(pbgo, old, old)
	if err := run([]string{"-I", protoDir, "v1/demo.proto"}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(pbgo); !fi.ModTime().Equal(old) {
		t.Error("an unchanged file was written again")
	}

	out := filepath.Join(dir, "out")
	if err := run([]string{"-I", protoDir, "-out", out, "-plugins", "go", "v1/demo.proto"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "v1", "demo.pb.go")); err != nil {
		t.Errorf("-out: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "v1", "demo.pb.micro.go")); err == nil {
		t.Error("-plugins go also ran micro")
	}

	os.WriteFile(filepath.Join(protoDir, "bad.proto"), []byte("syntax = \"proto3\";\nmessage {\n"), 0o644)
	err := run([]string{"-I", protoDir, "bad.proto", "v1/demo.proto"})
	if err == nil || !strings.Contains(err.Error(), "bad.proto:2:") {
		t.Errorf("a syntax error: %v", err)
	}
	if err := run([]string{"-I", protoDir}); err == nil {
		t.Error("no files: no error")
	}
}
