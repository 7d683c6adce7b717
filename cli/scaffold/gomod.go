package scaffold

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
)

// ModulePath is the framework's module, which every new service requires.
const ModulePath = "micro.dev/micro"

// ZeroVersion is the version go itself writes for a requirement that only a
// replace directive provides.
const ZeroVersion = "v0.0.0-00010101000000-000000000000"

// frameworkModules are the modules, besides ModulePath, that provide the
// packages a new service is built from (the framework's and the generated
// code's imports, transitively, and its tool, micro-proto). The new go.mod requires them at the
// versions this module's go.mod names and the new go.sum carries their
// hashes from this module's go.sum, so the service builds offline from the
// module cache, with -mod=readonly. TestFrameworkModules keeps the list in
// step with `go list -deps`.
var frameworkModules = []string{
	"github.com/bufbuild/protocompile",
	"github.com/cespare/xxhash/v2",
	"github.com/go-logr/logr",
	"github.com/go-logr/stdr",
	"github.com/golang-jwt/jwt/v5",
	"github.com/google/uuid",
	"github.com/robfig/cron/v3",
	"go.opentelemetry.io/auto/sdk",
	"go.opentelemetry.io/otel",
	"go.opentelemetry.io/otel/log",
	"go.opentelemetry.io/otel/metric",
	"go.opentelemetry.io/otel/sdk",
	"go.opentelemetry.io/otel/trace",
	"golang.org/x/net",
	"golang.org/x/sync",
	"golang.org/x/sys",
	"golang.org/x/text",
	"google.golang.org/genproto/googleapis/rpc",
	"google.golang.org/grpc",
	"google.golang.org/protobuf",
}

// protoTool is the command that make proto runs (go tool micro-proto): the
// .proto files' Go code, written by this framework's generators, without
// protoc.
const protoTool = ModulePath + "/cmd/micro-proto"

// directModules are imported by the new service's own packages (the
// generated code imports protobuf); go.mod lists them without "// indirect".
var directModules = map[string]bool{ModulePath: true, "google.golang.org/protobuf": true}

// Framework says which micro.dev/micro a new service builds against.
type Framework struct {
	// GoMod and GoSum are this module's go.mod and go.sum (the binary
	// embeds them): the versions and hashes of the framework's
	// dependencies.
	GoMod, GoSum []byte
	// Version is the version of ModulePath to require (see RequireVersion).
	Version string
	// Dir is a checkout of ModulePath to use instead (a replace directive),
	// or "".
	Dir string
}

// goModules writes the new service's go.mod and go.sum.
func goModules(n Names, fw Framework) (gomod, gosum []byte, err error) {
	goVersion, requires, err := parseGoMod(fw.GoMod)
	if err != nil {
		return nil, nil, err
	}
	version := fw.Version
	if version == "" {
		version = ZeroVersion
	}
	versions := map[string]string{ModulePath: version}
	for _, m := range frameworkModules {
		v, ok := requires[m]
		if !ok {
			return nil, nil, fmt.Errorf("the framework's go.mod does not require %s, which a new service needs", m)
		}
		versions[m] = v
	}
	var direct, indirect []string
	for m, v := range versions {
		if directModules[m] {
			direct = append(direct, "\t"+m+" "+v)
		} else {
			indirect = append(indirect, "\t"+m+" "+v+" // indirect")
		}
	}
	sort.Strings(direct)
	sort.Strings(indirect)
	var b bytes.Buffer
	fmt.Fprintf(&b, "module %s\n\ngo %s\n\nrequire (\n%s\n)\n\nrequire (\n%s\n)\n\n// make proto: the .proto files' Go code, without protoc.\ntool %s\n",
		n.Module, goVersion, strings.Join(direct, "\n"), strings.Join(indirect, "\n"), protoTool)
	if fw.Dir != "" {
		fmt.Fprintf(&b, "\n// The framework from a local checkout (see micro new --help).\nreplace %s => %s\n", ModulePath, quoteModPath(fw.Dir))
	}

	var sum bytes.Buffer
	found := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(fw.GoSum))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			continue
		}
		if v, ok := versions[f[0]]; ok && f[0] != ModulePath && strings.TrimSuffix(f[1], "/go.mod") == v {
			sum.WriteString(sc.Text() + "\n")
			found[f[0]]++
		}
	}
	for _, m := range frameworkModules {
		if found[m] != 2 {
			return nil, nil, fmt.Errorf("the framework's go.sum lacks the hashes of %s %s", m, versions[m])
		}
	}
	return b.Bytes(), sum.Bytes(), nil
}

// quoteModPath quotes a path for go.mod when it needs it (spaces, quotes).
func quoteModPath(p string) string {
	if strings.ContainsAny(p, " \t\"'`\\") || strings.Contains(p, "//") {
		return fmt.Sprintf("%q", p)
	}
	return p
}

// parseGoMod reads the go directive and the requirements of a go.mod.
func parseGoMod(data []byte) (goVersion string, requires map[string]string, err error) {
	requires = map[string]string{}
	inBlock := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
		case inBlock && f[0] == ")":
			inBlock = false
		case inBlock && len(f) == 2:
			requires[f[0]] = f[1]
		case f[0] == "go" && len(f) == 2:
			goVersion = f[1]
		case f[0] == "require" && len(f) == 2 && f[1] == "(":
			inBlock = true
		case f[0] == "require" && len(f) == 3:
			requires[f[1]] = f[2]
		}
	}
	if goVersion == "" {
		return "", nil, fmt.Errorf("the framework's go.mod has no go directive")
	}
	return goVersion, requires, nil
}

// releaseRE matches versions a go.mod can require: releases and
// pseudo-versions, without build metadata ("+dirty").
var releaseRE = regexp.MustCompile(`^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$`)

// RequireVersion is the version of ModulePath a new service requires: the
// running binary's module version when go recorded one (a binary installed
// with go install micro.dev/micro@v1.2.3), else stamped (the release the
// binary was built as, cli.Version) when it is one, else ZeroVersion, which
// only a replace directive can satisfy.
func RequireVersion(stamped string) string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Path == ModulePath && releaseRE.MatchString(bi.Main.Version) {
		return bi.Main.Version
	}
	if releaseRE.MatchString(stamped) {
		return stamped
	}
	return ZeroVersion
}

// IsCheckout reports whether dir is the root of a source tree of
// ModulePath (its go.mod declares the module).
func IsCheckout(dir string) bool {
	data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`) == ModulePath
		}
	}
	return false
}

// FindCheckout returns the checkout of ModulePath that dir is in (dir or
// one of its parents), or "".
func FindCheckout(dir string) string {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	for {
		if IsCheckout(dir) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// SourceDir is the checkout the binary was built from, stamped at build
// time by the Makefile (-X micro.dev/micro/cli/scaffold.SourceDir=...),
// whose -trimpath hides it otherwise.
var SourceDir string

// BuiltFrom returns the checkout this binary was built from when it is
// known and still on this machine: SourceDir, else the source path the
// compiler recorded for this file (builds without -trimpath). A path into
// the module cache (micro.dev/micro@v1.2.3) is not a checkout to replace
// with: go finds that version itself.
func BuiltFrom() string {
	candidates := []string{SourceDir}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		candidates = append(candidates, filepath.Dir(filepath.Dir(filepath.Dir(file))))
	}
	for _, dir := range candidates {
		if dir != "" && !strings.Contains(dir, "@") && IsCheckout(dir) {
			return dir
		}
	}
	return ""
}
