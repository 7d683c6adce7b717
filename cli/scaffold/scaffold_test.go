package scaffold

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// repoRoot is this checkout, which new services in tests build against.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil || !IsCheckout(root) {
		t.Fatalf("../.. is not a checkout of %s", ModulePath)
	}
	return root
}

// framework is what micro new passes: this checkout's go.mod and go.sum,
// and a replace to it.
func framework(t *testing.T) Framework {
	t.Helper()
	root := repoRoot(t)
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	gosum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	return Framework{GoMod: gomod, GoSum: gosum, Version: ZeroVersion, Dir: root}
}

// offline runs go with args in dir without network access: the module
// cache must have everything, and go.mod and go.sum must be complete.
func offline(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=readonly", "GOWORK=off", "GOTOOLCHAIN=local")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return string(out)
}

func needGo(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go is not installed")
	}
}

func TestNewNames(t *testing.T) {
	n, err := NewNames("hello-world", "")
	if err != nil {
		t.Fatal(err)
	}
	want := Names{Dir: "hello-world", Service: "hello-world", Title: "HelloWorld", Package: "helloworld", Module: "hello-world", Proto: "hello-world.proto"}
	if n != want {
		t.Errorf("NewNames(hello-world) = %+v, want %+v", n, want)
	}
	if got := n.GoPackage(); got != "hello-world/proto;helloworld" {
		t.Errorf("GoPackage = %q", got)
	}
	n, err = NewNames("services/./billing2/", "github.com/acme/billing")
	if err != nil {
		t.Fatal(err)
	}
	if n.Dir != filepath.Join("services", "billing2") || n.Service != "billing2" || n.Title != "Billing2" || n.Module != "github.com/acme/billing" {
		t.Errorf("a path and a module: %+v", n)
	}
	// A standard library name is fine once the module path is given.
	if _, err := NewNames("net", "example.com/net"); err != nil {
		t.Errorf("net with --module: %v", err)
	}

	for _, tc := range []struct{ dir, module, want string }{
		{"", "", "give the new service's name"},
		{"/tmp/helloworld", "", "is an absolute path"},
		{".", "", "names no new directory"},
		{"foo/..", "", "names no new directory"},
		{"Hello", "", "use lower-case letters"},
		{"hello_world", "", "use lower-case letters"},
		{"hello--world", "", "use lower-case letters"},
		{"-hello", "", "use lower-case letters"},
		{"hello-", "", "use lower-case letters"},
		{"1hello", "", "use lower-case letters"},
		{"héllo", "", "use lower-case letters"},
		{strings.Repeat("a", 64), "", "longer than 63"},
		{"store", "", "name of a micro block service"},
		{"registry", "", "name of a micro block service"},
		{"func", "", "which Go does not allow"},
		{"main", "", "which Go does not allow"},
		{"net", "", "Go standard library package"},
		{"hello", "bad path", "module path \"bad path\" is not valid"},
		{"hello", "/abs", "is not valid"},
		{"hello", "a//b", "is not valid"},
		{"hello", "a/.b", "is not valid"},
	} {
		if _, err := NewNames(tc.dir, tc.module); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewNames(%q, %q) = %v, want an error containing %q", tc.dir, tc.module, err, tc.want)
		}
	}
}

// TestStdRoots: every first element of a standard library package path is
// refused as a module path.
func TestStdRoots(t *testing.T) {
	needGo(t)
	out, err := exec.Command("go", "list", "std").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if root, _, _ := strings.Cut(pkg, "/"); !stdRoots[root] {
			t.Errorf("standard library root %q (of %s) missing from stdRoots", root, pkg)
		}
	}
}

func TestRequireVersion(t *testing.T) {
	// A test binary's main module has no version, so the stamped one counts.
	for stamped, want := range map[string]string{
		"v1.2.3":                             "v1.2.3",
		"v0.4.0-rc.1":                        "v0.4.0-rc.1",
		"v0.0.0-20260101000000-9c2b3a2abcde": "v0.0.0-20260101000000-9c2b3a2abcde",
		"latest":                             ZeroVersion,
		"9c2b3a2-dirty":                      ZeroVersion,
		"v1.2.3+dirty":                       ZeroVersion,
		"v1.2":                               ZeroVersion,
		"":                                   ZeroVersion,
	} {
		if got := RequireVersion(stamped); got != want {
			t.Errorf("RequireVersion(%q) = %q, want %q", stamped, got, want)
		}
	}
}

func TestCheckouts(t *testing.T) {
	root := repoRoot(t)
	if got := FindCheckout(filepath.Join(root, "cli", "scaffold", "not-yet")); got != root {
		t.Errorf("FindCheckout inside the checkout = %q, want %q", got, root)
	}
	if got := FindCheckout(t.TempDir()); got != "" {
		t.Errorf("FindCheckout outside = %q", got)
	}
	// go test builds without -trimpath: the compiler recorded this file's path.
	if got := BuiltFrom(); got != root {
		t.Errorf("BuiltFrom = %q, want %q", got, root)
	}
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "go.mod"), []byte("module example.com/other\n"), 0o644)
	if IsCheckout(other) {
		t.Error("a go.mod of another module counts as a checkout")
	}
}

func TestTree(t *testing.T) {
	got := Tree([]string{"main.go", "handler/a.go", "proto/a.proto", "proto/a.pb.go", "go.mod"})
	want := ".\n" +
		"├── main.go\n" +
		"├── handler\n" +
		"│   └── a.go\n" +
		"├── proto\n" +
		"│   ├── a.proto\n" +
		"│   └── a.pb.go\n" +
		"└── go.mod\n"
	if got != want {
		t.Errorf("Tree:\n%s\nwant:\n%s", got, want)
	}
}

func TestGoModulesNeedsTheFrameworksVersions(t *testing.T) {
	fw := framework(t)
	n, _ := NewNames("x", "")
	noGrpc := regexp.MustCompile(`(?m)^\s*google.golang.org/grpc v.*$`).ReplaceAll(fw.GoMod, nil)
	if _, _, err := goModules(n, Framework{GoMod: noGrpc, GoSum: fw.GoSum}); err == nil || !strings.Contains(err.Error(), "does not require google.golang.org/grpc") {
		t.Errorf("go.mod without grpc: %v", err)
	}
	noHash := regexp.MustCompile(`(?m)^golang.org/x/net .*/go.mod .*\n`).ReplaceAll(fw.GoSum, nil)
	if _, _, err := goModules(n, Framework{GoMod: fw.GoMod, GoSum: noHash}); err == nil || !strings.Contains(err.Error(), "lacks the hashes of golang.org/x/net") {
		t.Errorf("go.sum without x/net's go.mod hash: %v", err)
	}
	if _, _, err := goModules(n, Framework{GoMod: []byte("module x\n"), GoSum: fw.GoSum}); err == nil {
		t.Error("a go.mod without a go directive was accepted")
	}
	gomod, _, err := goModules(n, Framework{GoMod: fw.GoMod, GoSum: fw.GoSum, Version: "v1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(gomod, []byte("\tmicro.dev/micro v1.2.3\n")) || bytes.Contains(gomod, []byte("replace")) {
		t.Errorf("go.mod of a release without a checkout:\n%s", gomod)
	}
}

// TestCreate writes a service, refuses to overwrite it, and checks that it
// builds offline (go vet), that go.mod lists exactly the modules it and its
// tool build from, and that make proto, offline and without protoc,
// regenerates the very files micro new wrote.
func TestCreate(t *testing.T) {
	needGo(t)
	fw := framework(t)
	work := t.TempDir()
	t.Chdir(work)
	n, err := NewNames("helloworld", "")
	if err != nil {
		t.Fatal(err)
	}
	paths, err := Create(n, fw)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"main.go", "handler/helloworld.go", "proto/helloworld.proto", "proto/helloworld.pb.go",
		"proto/helloworld.pb.micro.go", "Makefile", "README.md", ".gitignore", "go.mod", "go.sum"}
	if !slices.Equal(paths, want) {
		t.Errorf("files %v, want %v", paths, want)
	}
	if _, err := Create(n, fw); err == nil || !strings.Contains(err.Error(), "directory helloworld already exists") {
		t.Errorf("second Create: %v", err)
	}
	dir := filepath.Join(work, "helloworld")
	gomod, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
	if !bytes.Contains(gomod, []byte("replace micro.dev/micro => "+fw.Dir+"\n")) {
		t.Errorf("go.mod has no replace to the checkout:\n%s", gomod)
	}
	handler, _ := os.ReadFile(filepath.Join(dir, "handler", "helloworld.go"))
	for _, s := range []string{"func (e *Helloworld) Call(", "func (e *Helloworld) Stream(", "func (e *Helloworld) PingPong(", `rsp.Msg = "Hello " + req.Name`} {
		if !bytes.Contains(handler, []byte(s)) {
			t.Errorf("handler lacks %q", s)
		}
	}

	offline(t, dir, "vet", "./...")
	listed := offline(t, dir, "list", "-deps", "-f", "{{with .Module}}{{if not .Main}}{{.Path}}{{end}}{{end}}", "./...", "tool")
	used := map[string]bool{}
	for _, m := range strings.Fields(listed) {
		if m != ModulePath {
			used[m] = true
		}
	}
	var got []string
	for m := range used {
		got = append(got, m)
	}
	sort.Strings(got)
	if !slices.Equal(got, frameworkModules) {
		t.Errorf("the service builds from modules %v; frameworkModules lists %v (update it)", got, frameworkModules)
	}

	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed: make proto not tried")
	}
	var before [][]byte
	gen := []string{"helloworld.pb.go", "helloworld.pb.micro.go"}
	for _, f := range gen {
		b, _ := os.ReadFile(filepath.Join(dir, "proto", f))
		before = append(before, b)
		os.Remove(filepath.Join(dir, "proto", f))
	}
	cmd := exec.Command("make", "proto")
	cmd.Dir = dir
	// No protoc: a PATH with only go (and the shell make runs).
	cmd.Env = append(os.Environ(), "PATH="+noProtoc(t), "GOPROXY=off", "GOFLAGS=-mod=readonly", "GOWORK=off", "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make proto: %v\n%s", err, out)
	}
	for i, f := range gen {
		after, err := os.ReadFile(filepath.Join(dir, "proto", f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(after, before[i]) {
			t.Errorf("make proto wrote a different %s than micro new:\n%s\nmicro new:\n%s", f, after, before[i])
		}
	}
}

// noProtoc returns a PATH holding go, sh and find, and no protoc.
func noProtoc(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	for _, name := range []string{"go", "sh", "find"} {
		p, err := exec.LookPath(name)
		if err != nil {
			t.Skipf("%s is not installed", name)
		}
		if err := os.Symlink(p, filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	return bin
}

// TestNamesThatCompile: names that could clash with identifiers of the
// generated code or its imports still give code that compiles.
func TestNamesThatCompile(t *testing.T) {
	needGo(t)
	if testing.Short() {
		t.Skip("builds three services")
	}
	fw := framework(t)
	work := t.TempDir()
	t.Chdir(work)
	for _, name := range []string{"client", "proto", "hello-world2"} {
		n, err := NewNames(name, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Create(n, fw); err != nil {
			t.Fatal(err)
		}
		offline(t, filepath.Join(work, name), "vet", "./...")
	}
}
