package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"

	"github.com/peterbourgon/ff/v3/ffcli"

	pb "micro.dev/micro/proto/config"
)

// configCommand is `micro config`: the config tree of the
// current namespace. (config.go is the CLI's own config.json.)
func (a *app) configCommand() *ffcli.Command {
	cmd := &ffcli.Command{
		Name:       "config",
		ShortUsage: "micro config <command> [flags] [args...]",
		ShortHelp:  "Read and write config and secrets",
		LongHelp: "Config is a JSON tree per namespace, addressed by dotted paths such as helloworld.db.host.\n" +
			"Secrets are stored encrypted and read back as \"[secret]\" unless --secret is given.",
		FlagSet: flag.NewFlagSet("micro config", flag.ContinueOnError),
		Subcommands: []*ffcli.Command{
			a.configGet(),
			a.configSet(),
			a.configDel(),
		},
	}
	cmd.Exec = a.group(cmd)
	return cmd
}

// withConfig runs call with a config client and the call's context.
func (a *app) withConfig(ctx context.Context, call func(context.Context, pb.ConfigClient, *target) error) error {
	return a.withClient(ctx, callOptions{}, func(ctx context.Context, cl *client) error {
		return call(ctx, pb.NewConfigClient(cl.conn), cl.target)
	})
}

// configGet is `micro config get <path>`: a string prints as is, anything
// else as JSON; a missing path is an error.
func (a *app) configGet() *ffcli.Command {
	const path = "micro config get"
	var (
		secret bool
		fs     = flag.NewFlagSet(path, flag.ContinueOnError)
	)
	fs.BoolVar(&secret, "secret", false, "show secrets instead of \"[secret]\"")
	alias(fs, "secret", "s")
	return a.leaf("get", path+" [flags] <path>", "Print the value at a path (the whole namespace for \"\")", fs, func(ctx context.Context, args []string) error {
		if len(args) != 1 {
			return usageErrorf(path, "expected one path")
		}
		var data string
		err := a.withConfig(ctx, func(ctx context.Context, c pb.ConfigClient, t *target) error {
			rsp, err := c.Get(ctx, &pb.GetRequest{Namespace: t.Namespace, Path: args[0], Options: &pb.Options{Secret: secret}})
			data = rsp.GetValue().GetData()
			return err
		})
		if err != nil {
			return err
		}
		if data == "" || data == "null" {
			return exitf(exitFailure, "Not found: %s", args[0])
		}
		return printValue(a, data)
	})
}

// printValue prints config JSON: a string raw, an object or array
// indented, anything else as is.
func printValue(a *app, data string) error {
	var v any
	if err := json.Unmarshal([]byte(data), &v); err != nil {
		fmt.Fprintln(a.stdout, data)
		return nil
	}
	switch s := v.(type) {
	case string:
		fmt.Fprintln(a.stdout, s)
		return nil
	case map[string]any, []any:
		var out bytes.Buffer
		if err := json.Indent(&out, []byte(data), "", "  "); err != nil {
			return err
		}
		fmt.Fprintln(a.stdout, out.String())
		return nil
	}
	fmt.Fprintln(a.stdout, data)
	return nil
}

// configSet is `micro config set <path> <value...>`: the words of the value
// joined by spaces, taken as JSON when they are JSON and as a string
// otherwise.
func (a *app) configSet() *ffcli.Command {
	const path = "micro config set"
	var (
		secret bool
		fs     = flag.NewFlagSet(path, flag.ContinueOnError)
	)
	fs.BoolVar(&secret, "secret", false, "store the value encrypted; it reads back as \"[secret]\"")
	alias(fs, "secret", "s")
	shortHelp := "Set the value at a path: JSON ('{\"port\":5432}', 5432, true, '\"text\"') or else a string"
	return a.leaf("set", path+" [flags] <path> <value...>", shortHelp, fs, func(ctx context.Context, args []string) error {
		if len(args) < 2 {
			return usageErrorf(path, "expected a path and a value")
		}
		return a.withConfig(ctx, func(ctx context.Context, c pb.ConfigClient, t *target) error {
			_, err := c.Set(ctx, &pb.SetRequest{Namespace: t.Namespace, Path: args[0],
				Value: &pb.Value{Data: jsonValue(strings.Join(args[1:], " ")), Format: "json"}, Options: &pb.Options{Secret: secret}})
			return err
		})
	})
}

// jsonValue is s when it is JSON, else s as a JSON string.
func jsonValue(s string) string {
	if json.Valid([]byte(s)) {
		return s
	}
	b, _ := json.Marshal(s) // a string always encodes
	return string(b)
}

// configDel is `micro config del <path>`.
func (a *app) configDel() *ffcli.Command {
	const path = "micro config del"
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	return a.leaf("del", path+" <path>", "Delete the value at a path and everything under it", fs, func(ctx context.Context, args []string) error {
		if len(args) != 1 || args[0] == "" {
			return usageErrorf(path, "expected one path")
		}
		return a.withConfig(ctx, func(ctx context.Context, c pb.ConfigClient, t *target) error {
			_, err := c.Delete(ctx, &pb.DeleteRequest{Namespace: t.Namespace, Path: args[0]})
			return err
		})
	})
}
