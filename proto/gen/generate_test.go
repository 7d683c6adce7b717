package gen

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"
)

// TestGenerateMatchesProtoc: Generate, given what protoc parsed, writes
// byte for byte the code protoc with both plugins wrote (the committed
// testdata files, which make proto-check keeps current).
func TestGenerateMatchesProtoc(t *testing.T) {
	protoc, err := exec.LookPath("protoc")
	if err != nil {
		t.Skip("protoc is not installed")
	}
	dir := "../../testdata/helloworld/proto"
	set := filepath.Join(t.TempDir(), "set.pb")
	out, err := exec.Command(protoc, "-I", dir, "--include_source_info", "--include_imports",
		"--descriptor_set_out="+set, "helloworld.proto").CombinedOutput()
	if err != nil {
		t.Fatalf("protoc: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(set)
	if err != nil {
		t.Fatal(err)
	}
	var fds descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(raw, &fds); err != nil {
		t.Fatal(err)
	}
	version, _ := exec.Command(protoc, "--version").Output() // "libprotoc 3.21.12"
	req := &pluginpb.CodeGeneratorRequest{
		FileToGenerate:  []string{"helloworld.proto"},
		Parameter:       proto.String("paths=source_relative"),
		ProtoFile:       fds.File,
		CompilerVersion: compilerVersion(strings.TrimSpace(strings.TrimPrefix(string(version), "libprotoc "))),
	}
	files, err := Generate(req)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"helloworld.pb.go", "helloworld.pb.micro.go"} {
		want, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := files[name]; !ok || !bytes.Equal(got, want) {
			t.Errorf("%s differs from what protoc wrote (%d bytes, want %d)", name, len(got), len(want))
		}
	}
}

func compilerVersion(v string) *pluginpb.Version {
	parts := strings.SplitN(v, ".", 3)
	n := func(i int) *int32 {
		if i >= len(parts) {
			return proto.Int32(0)
		}
		x, _ := strconv.Atoi(parts[i])
		return proto.Int32(int32(x))
	}
	return &pluginpb.Version{Major: n(0), Minor: n(1), Patch: n(2)}
}
