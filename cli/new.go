package cli

import (
	"context"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/peterbourgon/ff/v3/ffcli"

	"micro.dev/micro/cli/scaffold"
)

// Module holds this module's go.mod and go.sum; main embeds them. micro new
// copies the framework's dependency versions and hashes from them into a
// new service's go.mod and go.sum, so it builds offline.
var Module fs.FS

// newCommand is `micro new NAME`.
func (a *app) newCommand() *ffcli.Command {
	const path = "micro new"
	var module, frameworkDir string
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	fs.StringVar(&module, "module", "", "Go module path of the new service (default its name)")
	fs.StringVar(&frameworkDir, "framework-dir", "", "a checkout of micro.dev/micro to build against (MICRO_FRAMEWORK_DIR)")
	cmd := a.leaf("new", path+" [flags] <name>", "Create a service from a template, ready to micro run", fs,
		func(ctx context.Context, args []string) error {
			if len(args) != 1 {
				return usageErrorf(path, "expected the new service's name, e.g. micro new helloworld")
			}
			if frameworkDir == "" {
				frameworkDir = a.getenv("MICRO_FRAMEWORK_DIR")
			}
			return a.newService(args[0], module, frameworkDir)
		})
	cmd.LongHelp = "Write a new service into the directory <name> (relative): main.go, handler/<name>.go with\n" +
		"Call, Stream and PingPong, proto/<name>.proto with its Go code already generated (no protoc\n" +
		"needed; make proto regenerates it after an edit), Makefile, README.md, .gitignore, go.mod and go.sum.\n\n" +
		"The go.mod requires micro.dev/micro at this binary's version and the framework's dependencies at\n" +
		"the versions this binary was built with, so the service builds from Go's module cache. It gets a\n" +
		"replace directive to a local checkout of micro.dev/micro, found in this order: --framework-dir or\n" +
		"MICRO_FRAMEWORK_DIR; a checkout the new directory is inside of; the checkout this binary was built\n" +
		"from, when it is still there."
	return cmd
}

func (a *app) newService(dir, module, frameworkDir string) error {
	n, err := scaffold.NewNames(dir, module)
	if err != nil {
		return exitf(exitFailure, "%s", capitalize(err.Error()))
	}
	if Module == nil {
		return exitf(exitFailure, "This micro binary was built without its go.mod; build it from main (go build micro.dev/micro)")
	}
	fw := scaffold.Framework{Version: scaffold.RequireVersion(Version)}
	if fw.GoMod, err = fs.ReadFile(Module, "go.mod"); err == nil {
		fw.GoSum, err = fs.ReadFile(Module, "go.sum")
	}
	if err != nil {
		return exitf(exitFailure, "Reading the framework's module files: %v", err)
	}
	switch {
	case frameworkDir != "":
		abs, err := filepath.Abs(frameworkDir)
		if err != nil {
			return err
		}
		if !scaffold.IsCheckout(abs) {
			return exitf(exitFailure, "%s is not a checkout of %s (its go.mod must declare that module)", frameworkDir, scaffold.ModulePath)
		}
		fw.Dir = abs
	default:
		if fw.Dir = scaffold.FindCheckout(filepath.Dir(n.Dir)); fw.Dir == "" {
			fw.Dir = scaffold.BuiltFrom()
		}
	}
	if _, err := os.Lstat(n.Dir); err == nil {
		return exitf(exitFailure, "Directory %s already exists: choose another name, or remove it first", n.Dir)
	}

	fmt.Fprintf(a.stdout, "Creating service %s\n\n", n.Service)
	paths, err := scaffold.Create(n, fw)
	if err != nil {
		return exitf(exitFailure, "%s", capitalize(err.Error()))
	}
	fmt.Fprint(a.stdout, scaffold.Tree(paths))
	fmt.Fprintln(a.stdout)
	switch {
	case fw.Dir != "":
		fmt.Fprintf(a.stdout, "go.mod builds against the framework in %s.\n\n", fw.Dir)
	case fw.Version == scaffold.ZeroVersion:
		fmt.Fprintf(a.stderr, "Warning: this micro binary is not a release and knows no checkout of %s, so go.mod\n"+
			"cannot name a version that exists. Add `replace %s => <your checkout>` to %s,\n"+
			"or run micro new again with --framework-dir <your checkout>.\n\n",
			scaffold.ModulePath, scaffold.ModulePath, filepath.Join(n.Dir, "go.mod"))
	}
	// Micro's next steps, less its protoc set-up (make init, go mod
	// vendor): the proto's Go code is generated already, and make proto
	// regenerates it with Go alone.
	fmt.Fprintf(a.stdout, "Next steps: run it next to a micro server, and call it:\n\n  cd %s\n  micro run .\n  micro %s --name=John\n  curl \"http://localhost:8080/%s/Call?name=John\"\n\n",
		n.Dir, n.Service, n.Service)
	fmt.Fprintf(a.stdout, "Edit the protobuf definition in proto/%s and run make proto to recompile it\n"+
		"(Go alone, no protoc); then edit handler/%s.go, and micro run . swaps in the new version.\n\n  make proto\n", n.Proto, n.Service)
	return nil
}
