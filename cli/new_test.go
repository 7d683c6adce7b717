package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNew runs micro new as a user does: the output, the files, the
// replace to a checkout given by flag, and the refusals.
func TestNew(t *testing.T) {
	isolate(t)
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	saved := Module
	Module = os.DirFS(root)
	t.Cleanup(func() { Module = saved })
	work := t.TempDir()
	t.Chdir(work)
	t.Setenv("MICRO_FRAMEWORK_DIR", "")

	out := mustRun(t, "new", "--framework-dir", root, "hello-world")
	for _, want := range []string{
		"Creating service hello-world\n\n.\n├── main.go\n├── handler\n│   └── hello-world.go\n├── proto\n│   ├── hello-world.proto\n",
		"│   └── hello-world.pb.micro.go\n├── Makefile\n├── README.md\n├── .gitignore\n├── go.mod\n└── go.sum\n",
		"cd hello-world\n  micro run .\n",
		`curl "http://localhost:8080/hello-world/Call?name=John"`,
		"run make proto to recompile it\n(Go alone, no protoc); then edit handler/hello-world.go",
		"micro hello-world --name=John\n",
		"\n\n  make proto\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("micro new output lacks %q:\n%s", want, out)
		}
	}
	gomod, err := os.ReadFile(filepath.Join(work, "hello-world", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(gomod), "module hello-world\n") || !strings.Contains(string(gomod), "replace micro.dev/micro => "+root+"\n") {
		t.Errorf("go.mod:\n%s", gomod)
	}

	// MICRO_FRAMEWORK_DIR stands for the flag, and must be a checkout.
	t.Setenv("MICRO_FRAMEWORK_DIR", work)
	wantFail(t, 1, work+" is not a checkout of micro.dev/micro (its go.mod must declare that module)", "new", "other")
	t.Setenv("MICRO_FRAMEWORK_DIR", root)
	if _, err := os.Stat(filepath.Join(work, "other")); err == nil {
		t.Error("a refused micro new left a directory behind")
	}

	wantFail(t, 1, "Directory hello-world already exists: choose another name, or remove it first", "new", "hello-world")
	wantFail(t, 1, "Expected the new service's name, e.g. micro new helloworld. Please refer to 'micro new --help'", "new")
	wantFail(t, 1, `Service name "Hello" is not allowed: use lower-case letters, digits and single hyphens, starting with a letter (e.g. hello-world)`, "new", "Hello")
	wantFail(t, 1, `"store" is the name of a micro block service; choose another name`, "new", "store")
	abs := filepath.Join(work, "abs")
	wantFail(t, 1, abs+" is an absolute path: give a name (or a path relative to this directory), e.g. micro new helloworld", "new", abs)

	Module = nil
	wantFail(t, 1, "This micro binary was built without its go.mod; build it from main (go build micro.dev/micro)", "new", "fresh")
}
