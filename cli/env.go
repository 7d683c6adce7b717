package cli

import (
	"context"
	"flag"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"unicode"

	"github.com/peterbourgon/ff/v3/ffcli"

	microclient "micro.dev/micro/framework/client"
)

// envCommand is `micro env` and its subcommands: the
// servers this CLI knows, stored in config.json.
func (a *app) envCommand() *ffcli.Command {
	cmd := &ffcli.Command{
		Name:       "env",
		ShortUsage: "micro env [get | set <name> | add <name> [host:port] [--ca FILE] [--insecure] [description...] | del <name>]",
		ShortHelp:  "List, select, add and delete environments (micro servers)",
		LongHelp: "An environment is a micro server the CLI talks to, by the address of its proxy.\n" +
			"Bare, micro env lists them; * marks the current one. The built-in env 'local' is 127.0.0.1:8081.\n" +
			"An address on this machine (127.0.0.1, ::1, localhost) is plaintext; any other is TLS, checked\n" +
			"against the system's roots, or the CA of --ca. https:// forces TLS, http://host:port plaintext.",
		FlagSet: flag.NewFlagSet("micro env", flag.ContinueOnError),
		Subcommands: []*ffcli.Command{
			a.leaf("get", "micro env get", "Print the current environment's name",
				flag.NewFlagSet("micro env get", flag.ContinueOnError), a.envGet),
			a.leaf("set", "micro env set <name>", "Make <name> the current environment",
				flag.NewFlagSet("micro env set", flag.ContinueOnError), a.envSet),
			a.envAddCommand(),
			a.leaf("del", "micro env del <name>", "Delete an environment",
				flag.NewFlagSet("micro env del", flag.ContinueOnError), a.envDel),
		},
	}
	cmd.Exec = func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			return unrecognizedSubcommand(cmd, args[0])
		}
		return a.envList()
	}
	return cmd
}

// envList prints one line per env: "* " marks the current one, then name,
// proxy address ("none" when unset) and description.
func (a *app) envList() error {
	c, err := a.config()
	if err != nil {
		return err
	}
	envs, err := c.Envs()
	if err != nil {
		return err
	}
	current := a.envName(c)
	names := make([]string, 0, len(envs))
	for name := range envs {
		names = append(names, name)
	}
	sort.Strings(names)
	tw := tabwriter.NewWriter(a.stdout, 0, 8, 2, ' ', 0)
	for _, name := range names {
		e := envs[name]
		mark := " "
		if name == current {
			mark = "*"
		}
		addr := e.ProxyAddress
		if addr == "" {
			addr = "none"
		}
		line := mark + " " + name + "\t" + addr
		if e.Description != "" {
			line += "\t" + e.Description
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}

// envGet is `micro env get`: the current env's name.
func (a *app) envGet(_ context.Context, args []string) error {
	if len(args) > 0 {
		return usageErrorf("micro env get", "unexpected argument %q", args[0])
	}
	c, err := a.config()
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, a.envName(c))
	return nil
}

// envSet is `micro env set <name>`; the env must exist.
func (a *app) envSet(_ context.Context, args []string) error {
	if len(args) != 1 {
		return usageErrorf("micro env set", "expected one environment name")
	}
	name := args[0]
	return a.updateConfig(func(c *Config) error {
		envs, err := c.Envs()
		if err != nil {
			return err
		}
		if _, ok := envs[name]; !ok {
			return exitf(exitFailure, "Environment '%s' does not exist", name)
		}
		c.Set("env", name)
		return nil
	})
}

// envAddCommand is `micro env add <name> [host:port] [--ca FILE]
// [--insecure] [description...]`. Adding an existing name replaces it, as
// in Micro; an env without an address is listed as "none" and refused by
// commands that need a server. --ca reads the file now and keeps its PEM
// in the env; either flag means TLS, even to this machine.
func (a *app) envAddCommand() *ffcli.Command {
	const path = "micro env add"
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	ca := fs.String("ca", "", "PEM file of the CA that signed the proxy's certificate, trusted instead of the system's roots")
	insecure := fs.Bool("insecure", false, "use TLS without checking the proxy's certificate (anyone on the path can read and change the traffic)")
	return a.leaf("add", path+" <name> [host:port] [--ca FILE] [--insecure] [description...]", "Add or replace an environment", fs,
		func(ctx context.Context, args []string) error {
			e := Env{Insecure: *insecure}
			if *ca != "" {
				pem, err := microclient.ReadCA(*ca)
				if err != nil {
					return exitf(exitFailure, "--ca %s: %v", *ca, err)
				}
				e.CA = string(pem)
			}
			return a.envAdd(e, args)
		})
}

// envAdd adds e named and addressed by args.
func (a *app) envAdd(e Env, args []string) error {
	if len(args) == 0 {
		return usageErrorf("micro env add", "expected an environment name")
	}
	e.Name = args[0]
	if len(args) > 1 {
		e.ProxyAddress = args[1]
	}
	if len(args) > 2 {
		e.Description = strings.Join(args[2:], " ")
	}
	if err := validEnvName(e.Name); err != nil {
		return err
	}
	if e.ProxyAddress != "" {
		sec := microclient.Security{CA: []byte(e.CA), Insecure: e.Insecure}
		if _, err := microclient.ParseTarget(e.ProxyAddress, sec); err != nil {
			return exitf(exitFailure, "%s", capitalize(err.Error()))
		}
	} else if e.CA != "" || e.Insecure {
		return usageErrorf("micro env add", "--ca and --insecure need a proxy address")
	}
	if _, ok := builtinEnvs[e.Name]; ok {
		return exitf(exitFailure, "Environment '%s' is built in and cannot be changed; add one under another name", e.Name)
	}
	return a.updateConfig(func(c *Config) error {
		envs, err := c.Envs()
		if err != nil {
			return err
		}
		envs[e.Name] = e
		c.SetEnvs(envs)
		return nil
	})
}

// envDel is `micro env del <name>`: neither the current env nor a built-in
// one, which would leave the CLI pointing nowhere.
func (a *app) envDel(_ context.Context, args []string) error {
	if len(args) != 1 {
		return usageErrorf("micro env del", "expected one environment name")
	}
	name := args[0]
	if _, ok := builtinEnvs[name]; ok {
		return exitf(exitFailure, "Environment '%s' is built in and cannot be deleted", name)
	}
	return a.updateConfig(func(c *Config) error {
		envs, err := c.Envs()
		if err != nil {
			return err
		}
		if _, ok := envs[name]; !ok {
			return exitf(exitFailure, "Environment '%s' does not exist", name)
		}
		if name == a.envName(c) {
			return exitf(exitFailure, "Environment '%s' is the current environment; switch with 'micro env set local' before deleting it", name)
		}
		delete(envs, name)
		c.SetEnvs(envs)
		c.forgetEnv(name)
		return nil
	})
}

// reservedEnvNames are config.json's own top-level keys, which an env's
// "<env>.current-user" key would overwrite.
var reservedEnvNames = map[string]bool{"env": true, "envs": true, "namespaces": true}

// validEnvName rejects names config.json cannot key by: env names become
// segments of dotted paths such as namespaces.<env>.current.
func validEnvName(name string) error {
	if name == "" || strings.ContainsAny(name, ".*") || strings.IndexFunc(name, unicode.IsSpace) >= 0 {
		return exitf(exitFailure, "Invalid environment name %q: use letters, digits, '-' or '_'", name)
	}
	if reservedEnvNames[name] {
		return exitf(exitFailure, "Invalid environment name %q: it is reserved", name)
	}
	return nil
}
