package cli

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// microRunFlags are the flags Micro's run and update take beyond ours, so
// a Micro user's command line and scripts work unchanged. --source and
// --metadata do what they do in Micro. The others choose containers,
// commands or replicas, which a runtime that builds Go sources and runs
// one local process per service has no use for: they are accepted and
// ignored, with one line on stderr saying so, rather than refused.
type microRunFlags struct {
	fs       *flag.FlagSet
	source   string
	metadata envList // K=V, the same syntax as --env_vars
}

// ignoredRunFlags are the flags taken and ignored, with why.
var ignoredRunFlags = map[string]string{
	"image":       "services run as local processes built with go build, not in containers",
	"command":     "the runtime runs the program go build makes",
	"args":        "the runtime runs the program go build makes, without arguments",
	"type":        "the runtime runs every service the same way",
	"instances":   "the runtime runs one instance of a service",
	"watch_delay": "the server's watcher waits for saves to settle by itself",
	"retries":     "the runtime restarts a crashed service with a growing delay, without a limit",
}

func (m *microRunFlags) register(fs *flag.FlagSet, create bool) {
	m.fs = fs
	fs.StringVar(&m.source, "source", "", "the source, as the argument (Micro's --source)")
	if create {
		fs.Var(&m.metadata, "metadata", "service metadata `K=V`, kept with the service (Runtime.Read); repeat or separate with commas")
	}
	for _, name := range []string{"image", "command", "args", "type"} {
		fs.String(name, "", "ignored: "+ignoredRunFlags[name])
	}
	fs.Int("instances", 1, "ignored unless 1: "+ignoredRunFlags["instances"])
	alias(fs, "instances", "i")
	fs.Int("watch_delay", 0, "ignored: "+ignoredRunFlags["watch_delay"])
	fs.Int("retries", 0, "ignored: "+ignoredRunFlags["retries"])
}

// sourceArg is the one source of the command: its argument or --source.
func (m *microRunFlags) sourceArg(path string, args []string) (string, error) {
	switch {
	case len(args) == 1 && (m.source == "" || m.source == args[0]):
		return args[0], nil
	case len(args) == 0 && m.source != "":
		return m.source, nil
	case len(args) == 1:
		return "", usageErrorf(path, "two sources: %s and --source %s", args[0], m.source)
	}
	return "", nil
}

// warnIgnored writes one line for each ignored flag the user gave.
func (m *microRunFlags) warnIgnored(w io.Writer, path string) {
	m.fs.Visit(func(f *flag.Flag) {
		name := f.Name
		if name == "i" {
			name = "instances"
		}
		why, ok := ignoredRunFlags[name]
		if !ok || name == "instances" && f.Value.String() == "1" {
			return
		}
		fmt.Fprintf(w, "%s: ignoring --%s %s: %s\n", path, name, strings.TrimSpace(f.Value.String()), why)
	})
}

// metadataMap is --metadata as a map.
func (m *microRunFlags) metadataMap() map[string]string {
	md := make(map[string]string, len(m.metadata))
	for _, kv := range m.metadata {
		k, v, _ := strings.Cut(kv, "=")
		md[k] = v
	}
	return md
}

// expandShortName turns Micro's short source, a bare name[@ref] that is not
// a directory here, into a git source under the env's git base
// (git.<env>.baseurl, else git.baseurl, in the config file), as Micro does.
// micro sets no default base: Micro's, github.com/micro/services, holds
// services written for Micro's framework.
func (a *app) expandShortName(src string) (string, error) {
	if _, err := os.Stat(src); err == nil || !isServiceName(src) {
		return src, nil
	}
	c, err := a.config()
	if err != nil {
		return "", err
	}
	base := gitBase(c, a.envName(c))
	if base == "" {
		return "", exitf(exitFailure, "Directory %s does not exist; to run a service by its short name, set the git repository "+
			"it is in: micro user config set git.baseurl github.com/org/repo", src)
	}
	return shortSource(base, src), nil
}

// gitBase is the git base of env's short names, "" when none is set.
func gitBase(c *Config, env string) string {
	if base := c.String("git." + env + ".baseurl"); base != "" {
		return base
	}
	return c.String("git.baseurl")
}

// shortSource joins a git base and a short name[@ref]: with "/" under a
// host/org/repo base or a URL that already names a directory, else with
// the "//" that separates a URL's repository from the directory in it.
func shortSource(base, short string) string {
	name, ref, hasRef := strings.Cut(short, "@")
	base = strings.TrimRight(base, "/")
	sep := "/"
	if rest, ok := strings.CutPrefix(base, "git@"); ok || strings.Contains(base, "://") {
		if _, r, ok := strings.Cut(base, "://"); ok {
			rest = r
		}
		if !strings.Contains(rest, "//") {
			sep = "//"
		}
	}
	src := base + sep + name
	if hasRef {
		src += "@" + ref
	}
	return src
}
