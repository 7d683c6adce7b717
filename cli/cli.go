// Package cli is the micro command: every subcommand (ffcli), and the client
// state the CLI keeps in ~/.micro (config.json).
//
// Commands, messages and config.json follow Micro, with
// deliberate departures where Micro was unhelpful: flags may follow
// arguments (micro store read key -v), `micro store --database` is honoured,
// and a 4xx error from the server exits 1 rather than 127 (errors.go).
package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/peterbourgon/ff/v3/ffcli"
)

// Version is the micro release, set at build time with
// -ldflags "-X micro.dev/micro/cli.Version=v1.2.3".
var Version = "latest"

// globalFlags are the root command's flags; they come before the command
// name (micro --env prod store list), as in Micro.
type globalFlags struct {
	configFile   string // --config, -c; else MICRO_CONFIG_FILE
	env          string // --env, -e; else MICRO_ENV
	namespace    string // --namespace; else MICRO_NAMESPACE
	proxyAddress string // --proxy_address; else MICRO_PROXY
	version      bool
}

// app is one run of the micro command.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	flags          globalFlags
	root           *ffcli.Command
	// usageFor is the command whose usage the flag package last asked for,
	// on -h or a flag error; report prints it.
	usageFor *ffcli.Command
	// in reads stdin line by line for prompts (login), made on first use.
	in *bufio.Reader
}

// Main runs the micro command with args (without the program name) and
// returns the process's exit code (see errors.go for the table).
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	a.root = a.rootCommand()
	a.prepare(a.root)
	err := a.root.Parse(args)
	if err != nil {
		err = a.parseError(err)
	} else {
		err = a.root.Run(ctx)
	}
	return a.report(err)
}

// rootCommand is `micro` itself: the global flags and every built-in command.
func (a *app) rootCommand() *ffcli.Command {
	fs := flag.NewFlagSet("micro", flag.ContinueOnError)
	fs.StringVar(&a.flags.configFile, "config", "", "the CLI's config `file`: envs, namespaces and, beside it, logins (MICRO_CONFIG_FILE); default ~/.micro/config.json")
	alias(fs, "config", "c")
	fs.StringVar(&a.flags.env, "env", "", "environment to use (MICRO_ENV); see micro env")
	alias(fs, "env", "e")
	fs.StringVar(&a.flags.namespace, "namespace", "", "namespace to act in (MICRO_NAMESPACE); default the env's current namespace, else micro")
	fs.StringVar(&a.flags.proxyAddress, "proxy_address", "", "proxy to talk to instead of the env's (MICRO_PROXY)")
	fs.BoolVar(&a.flags.version, "version", false, "print the version and exit")
	alias(fs, "version", "v")

	subs := []*ffcli.Command{
		a.authCommand(),
		a.backupCommand(), a.backupsCommand(), a.restoreCommand(), // backup.go, backups.go
		a.envCommand(),
		a.loginCommand(),
		a.logoutCommand(),
		a.serverCommand(),
		a.storeCommand(),
		a.blobCommand(), // blob.go
		a.userCommand(),
		a.webCommand(),
		// runtime (run.go, status.go)
		a.runCommand(), a.updateCommand(), a.killCommand(), a.statusCommand(), a.logsCommand(),
		a.configCommand(),
		a.eventsCommand(),
		a.brokerCommand(),
		// services (services.go, network.go)
		a.servicesCommand(),
		a.getCommand(),
		a.callCommand(),
		a.healthCommand(), a.statsCommand(), // debug.go
		a.streamCommand(),
		a.networkCommand(),
		a.clusterCommand(),                  // cluster.go
		a.traceCommand(), a.tracesCommand(), // trace.go
		a.newCommand(), // new.go
	}
	return &ffcli.Command{
		Name:        "micro",
		ShortUsage:  "micro [global options] <command> [options] [args...]",
		LongHelp:    "micro is a Go application platform in one binary: start a server with 'micro server', then use the commands below against it.",
		FlagSet:     fs,
		Subcommands: subs,
		Exec:        a.rootExec,
	}
}

// rootExec runs when no built-in command matched args.
func (a *app) rootExec(ctx context.Context, args []string) error {
	switch {
	case a.flags.version:
		fmt.Fprintf(a.stdout, "micro version %s\n", Version)
		return nil
	case len(args) == 0:
		return exitf(exitFailure, "No command provided to micro. Please refer to 'micro --help'")
	case args[0] == "help":
		return a.help(args[1:])
	}
	return a.unknownCommand(ctx, args[0], args[1:])
}

// unknownCommand runs a command micro does not define itself: plugins and
// dynamic commands, tried in Micro's order: an
// executable micro-<name> on PATH given the remaining args, then
// `micro <service> [handler] [method] --flags` against the registry
// (dynamic.go). Anything else is an unrecognized command.
func (a *app) unknownCommand(ctx context.Context, name string, args []string) error {
	return a.pluginOrService(ctx, name, args)
}

// help prints the usage of the command named by path, e.g. micro help store read.
func (a *app) help(path []string) error {
	cmd := a.root
	for _, name := range path {
		next := findCommand(cmd.Subcommands, name)
		if next == nil {
			if cmd == a.root {
				return exitf(exitFailure, "Unrecognized micro command: %s. Please refer to 'micro --help'", name)
			}
			return unrecognizedSubcommand(cmd, name)
		}
		cmd = next
	}
	a.printUsage(a.stdout, cmd)
	return nil
}

func findCommand(cmds []*ffcli.Command, name string) *ffcli.Command {
	for _, c := range cmds {
		if strings.EqualFold(c.Name, name) {
			return c
		}
	}
	return nil
}

// prepare readies the command tree: subcommands sorted by name for help,
// flag errors and usage routed through report instead of printed by the flag
// package, and a FlagSet everywhere, since ffcli's default one would exit
// the process on a bad flag.
func (a *app) prepare(cmd *ffcli.Command) {
	if cmd.FlagSet == nil {
		cmd.FlagSet = flag.NewFlagSet(cmd.Name, flag.ContinueOnError)
	}
	cmd.FlagSet.SetOutput(io.Discard)
	cmd.UsageFunc = func(c *ffcli.Command) string {
		a.usageFor = c
		return ""
	}
	sort.Slice(cmd.Subcommands, func(i, j int) bool { return cmd.Subcommands[i].Name < cmd.Subcommands[j].Name })
	for _, sub := range cmd.Subcommands {
		a.prepare(sub)
	}
}

// group makes the Exec of a command that only holds subcommands: bare, it
// prints its usage; with an unknown subcommand, it says so.
func (a *app) group(cmd *ffcli.Command) func(context.Context, []string) error {
	return func(_ context.Context, args []string) error {
		if len(args) == 0 {
			a.printUsage(a.stdout, cmd)
			return nil
		}
		return unrecognizedSubcommand(cmd, args[0])
	}
}

func unrecognizedSubcommand(cmd *ffcli.Command, name string) error {
	path := cmd.FlagSet.Name()
	return exitf(exitFailure, "Unrecognized subcommand for %s: %s. Please refer to '%s --help'", path, name, path)
}

// leaf makes a command that runs run with its positional arguments. Flags
// may also follow the arguments (micro store read key -v), as people type
// them; "--" ends the flags. The FlagSet's name is the command's full path,
// for messages.
func (a *app) leaf(name, shortUsage, shortHelp string, fs *flag.FlagSet, run func(ctx context.Context, args []string) error) *ffcli.Command {
	return &ffcli.Command{
		Name:       name,
		ShortUsage: shortUsage,
		ShortHelp:  shortHelp,
		FlagSet:    fs,
		Exec: func(ctx context.Context, args []string) error {
			args, err := interspersed(fs, args)
			if err != nil {
				return flagError(fs, err)
			}
			return run(ctx, args)
		},
	}
}

// parseError turns an error of parsing the command line into what the user
// sees.
func (a *app) parseError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	var noExec ffcli.NoExecError
	if errors.As(err, &noExec) {
		return a.group(noExec.Command)(context.Background(), nil)
	}
	msg := strings.TrimPrefix(err.Error(), "error parsing commandline arguments: ")
	if a.usageFor != nil {
		return usageErrorf(a.usageFor.FlagSet.Name(), "%s", msg)
	}
	return exitf(exitFailure, "%s", capitalize(msg))
}

// flagError reports a bad flag of the command whose FlagSet is fs.
func flagError(fs *flag.FlagSet, err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return usageErrorf(fs.Name(), "%v", err)
}

// report prints err and returns the exit code for it.
func (a *app) report(err error) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		cmd := a.usageFor
		if cmd == nil {
			cmd = a.root
		}
		a.printUsage(a.stdout, cmd)
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg == "" {
			return ee.code // a plugin that has had its say
		}
		fmt.Fprintln(a.stderr, ee.msg)
		if ee.cause != "" {
			fmt.Fprintf(a.stderr, "  (%s)\n", ee.cause)
		}
		return ee.code
	}
	fmt.Fprintln(a.stderr, capitalize(err.Error()))
	return exitFailure
}
