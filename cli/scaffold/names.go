package scaffold

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// Names are the identifiers a new service is written with, all derived from
// the name given to micro new (see NewNames).
type Names struct {
	// Dir is the directory to create, as given (relative).
	Dir string
	// Service is the service's name in the registry and the gateway's path
	// (/Service/Call): the directory's base name, e.g. "foo-bar".
	Service string
	// Title is the handler and proto service name, as the gateway spells a
	// path segment: "-"-separated words joined, each capitalised ("FooBar").
	Title string
	// Package is the Go and proto package of the generated code: Service
	// without "-" ("foobar").
	Package string
	// Module is the new service's Go module path (default Service).
	Module string
	// Proto is the .proto file's name inside proto/ ("foo-bar.proto").
	Proto string
}

// GoPackage is the proto file's go_package option.
func (n Names) GoPackage() string { return n.Module + "/proto;" + n.Package }

// nameRE is what a service name may be: lower-case words of letters and
// digits joined by single hyphens, starting with a letter. It keeps the
// registry name, the gateway path, the handler type, the Go package and
// the module path in step (the gateway maps /foo-bar/call to FooBar.Call).
var nameRE = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

// moduleRE is a loose check of a module path: elements of the characters
// module paths allow, separated by single slashes.
var moduleRE = regexp.MustCompile(`^[A-Za-z0-9~_.-]+(/[A-Za-z0-9~_.-]+)*$`)

// maxName keeps names usable as DNS labels, as service names often end up.
const maxName = 63

// reserved are the names of micro's own services: the registry refuses to
// register a user service under them.
var reserved = map[string]bool{
	"admin": true, "auth": true, "broker": true, "config": true, "events": true, "grpc": true,
	"network": true, "registry": true, "runtime": true, "store": true, "sync": true,
}

// goKeywords cannot be package names; "main" cannot be imported.
var goKeywords = map[string]bool{
	"break": true, "case": true, "chan": true, "const": true, "continue": true, "default": true,
	"defer": true, "else": true, "fallthrough": true, "for": true, "func": true, "go": true, "goto": true,
	"if": true, "import": true, "interface": true, "map": true, "package": true, "range": true,
	"return": true, "select": true, "struct": true, "switch": true, "type": true, "var": true, "main": true,
}

// stdRoots are the first elements of the standard library's import paths. A
// module named like one ("net") would have its packages ("net/handler")
// looked up in the standard library. A test keeps the list complete.
var stdRoots = map[string]bool{
	"archive": true, "arena": true, "bufio": true, "builtin": true, "bytes": true, "cmd": true,
	"cmp": true, "compress": true, "container": true, "context": true, "crypto": true,
	"database": true, "debug": true, "embed": true, "encoding": true, "errors": true,
	"expvar": true, "flag": true, "fmt": true, "go": true, "hash": true, "html": true,
	"image": true, "index": true, "internal": true, "io": true, "iter": true, "log": true,
	"maps": true, "math": true, "mime": true, "net": true, "os": true, "path": true,
	"plugin": true, "reflect": true, "regexp": true, "runtime": true, "slices": true,
	"sort": true, "strconv": true, "strings": true, "structs": true, "sync": true,
	"syscall": true, "testing": true, "text": true, "time": true, "unicode": true,
	"unique": true, "unsafe": true, "vendor": true, "weak": true,
}

// NewNames checks dir (the argument of micro new) and module (its --module
// flag, "" for the default) and derives the service's identifiers. Errors
// say what is wrong and what would do.
func NewNames(dir, module string) (Names, error) {
	if dir == "" {
		return Names{}, fmt.Errorf("give the new service's name, e.g. micro new helloworld")
	}
	if filepath.IsAbs(dir) {
		return Names{}, fmt.Errorf("%s is an absolute path: give a name (or a path relative to this directory), e.g. micro new helloworld", dir)
	}
	dir = filepath.Clean(dir)
	name := filepath.Base(dir)
	switch {
	case name == "." || name == "..":
		return Names{}, fmt.Errorf("%q names no new directory: give the service's name, e.g. micro new helloworld", dir)
	case len(name) > maxName:
		return Names{}, fmt.Errorf("service name %q is longer than %d characters", name, maxName)
	case !nameRE.MatchString(name):
		return Names{}, fmt.Errorf("service name %q is not allowed: use lower-case letters, digits and single hyphens, starting with a letter (e.g. hello-world)", name)
	case reserved[name]:
		return Names{}, fmt.Errorf("%q is the name of a micro block service; choose another name", name)
	}
	n := Names{Dir: dir, Service: name, Package: strings.ReplaceAll(name, "-", ""), Proto: name + ".proto"}
	if goKeywords[n.Package] {
		return Names{}, fmt.Errorf("service name %q would make the Go package %q, which Go does not allow; choose another name", name, n.Package)
	}
	for _, w := range strings.Split(name, "-") {
		n.Title += strings.ToUpper(w[:1]) + w[1:]
	}
	n.Module = module
	if module == "" {
		n.Module = name
		if stdRoots[name] {
			return Names{}, fmt.Errorf("%q is the name of a Go standard library package and cannot be a module path; choose another name, or give one with --module (e.g. --module example.com/%s)", name, name)
		}
	} else if !moduleRE.MatchString(module) || strings.HasPrefix(module, ".") || strings.Contains(module, "/.") {
		return Names{}, fmt.Errorf("module path %q is not valid: use letters, digits and -._~ in /-separated elements, e.g. github.com/you/%s", module, name)
	}
	return n, nil
}
