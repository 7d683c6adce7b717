package cli

import (
	"context"
	"flag"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/peterbourgon/ff/v3/ffcli"

	"micro.dev/micro/framework/codec"
	merrors "micro.dev/micro/framework/errors"
	authpb "micro.dev/micro/proto/auth"
)

// authCommand is `micro auth`: accounts, rules and tokens.
// Every subcommand takes --namespace to act on a namespace other than the
// current one (an admin of namespace micro may act on any).
func (a *app) authCommand() *ffcli.Command {
	group := func(name, usage, help string, subs ...*ffcli.Command) *ffcli.Command {
		c := &ffcli.Command{
			Name: name, ShortUsage: usage, ShortHelp: help,
			FlagSet:     flag.NewFlagSet("micro auth "+name, flag.ContinueOnError),
			Subcommands: subs,
		}
		c.Exec = a.group(c)
		return c
	}
	cmd := &ffcli.Command{
		Name:       "auth",
		ShortUsage: "micro auth <create|list|delete|update> ...",
		ShortHelp:  "Manage accounts, rules and tokens",
		LongHelp: "Manage the accounts and access rules of a namespace, and create tokens.\n" +
			"Rules decide who may call what: scope '' is public, '*' any account of the namespace,\n" +
			"'+' any account, anything else an account holding that scope.",
		FlagSet: flag.NewFlagSet("micro auth", flag.ContinueOnError),
		Subcommands: []*ffcli.Command{
			group("create", "micro auth create <account|rule|token> ...", "Create an account, a rule or a token",
				a.authCreateAccount(), a.authCreateRule(), a.authCreateToken()),
			group("list", "micro auth list <accounts|rules>", "List accounts or rules",
				a.authListAccounts(), a.authListRules()),
			group("delete", "micro auth delete <account|rule> <id>", "Delete an account or a rule",
				a.authDeleteAccount(), a.authDeleteRule()),
			group("update", "micro auth update secret <id> ...", "Change an account's secret",
				a.authUpdateSecret()),
		},
	}
	cmd.Exec = a.group(cmd)
	return cmd
}

// nsFlag adds --namespace to fs and returns the Options it makes.
func nsFlag(fs *flag.FlagSet) func() *authpb.Options {
	ns := fs.String("namespace", "", "namespace to act on (default the current one)")
	return func() *authpb.Options { return &authpb.Options{Namespace: *ns} }
}

// oneArg checks that args is exactly one id.
func oneArg(path, what string, args []string) error {
	if len(args) != 1 {
		return usageErrorf(path, "expected one %s", what)
	}
	return nil
}

func (a *app) authCreateAccount() *ffcli.Command {
	const path = "micro auth create account"
	var (
		secret, scopes, typ, name string
		meta                      keyValues
		fs                        = flag.NewFlagSet(path, flag.ContinueOnError)
	)
	fs.StringVar(&secret, "secret", "", "the account's secret (default a random one, printed once)")
	fs.StringVar(&scopes, "scopes", "", "comma-separated scopes, e.g. admin")
	fs.StringVar(&typ, "type", "user", "user, service or client")
	fs.StringVar(&name, "name", "", "display name, also accepted at login (default the id)")
	fs.Var(&meta, "metadata", "metadata key=value (repeatable)")
	opts := nsFlag(fs)
	return a.leaf("account", path+" <id> [--secret S] [--scopes a,b] [--type user] [--namespace NS]", "Create an account", fs,
		func(ctx context.Context, args []string) error {
			if err := oneArg(path, "account id", args); err != nil {
				return err
			}
			return a.withClient(ctx, callOptions{}, func(ctx context.Context, cl *client) error {
				rsp, err := authpb.NewAuthClient(cl.conn).Generate(ctx, &authpb.GenerateRequest{
					Id: args[0], Secret: secret, Scopes: splitList(scopes), Type: typ, Name: name,
					Metadata: meta.m, Options: opts(),
				})
				if err != nil {
					return err
				}
				b, err := codec.MarshalJSON(rsp.GetAccount())
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "Account created: %s\n", b)
				return nil
			})
		})
}

func (a *app) authCreateRule() *ffcli.Command {
	const path = "micro auth create rule"
	var (
		scope, resource, access string
		priority                int
		fs                      = flag.NewFlagSet(path, flag.ContinueOnError)
	)
	fs.StringVar(&scope, "scope", "", "who the rule is for: '' anyone, '*' accounts of the namespace, '+' any account, or a scope")
	fs.StringVar(&resource, "resource", "", "type:name:endpoint, e.g. service:helloworld:Helloworld.Call or *:*:*")
	fs.StringVar(&access, "access", "granted", "granted or denied")
	fs.IntVar(&priority, "priority", 0, "higher priorities are checked first")
	opts := nsFlag(fs)
	return a.leaf("rule", path+" <id> --resource type:name:endpoint [--scope S] [--access granted|denied] [--priority N]",
		"Create a rule", fs, func(ctx context.Context, args []string) error {
			if err := oneArg(path, "rule id", args); err != nil {
				return err
			}
			parts := strings.SplitN(resource, ":", 3)
			if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
				return usageErrorf(path, "--resource must be type:name:endpoint, e.g. service:helloworld:* or *:*:*")
			}
			var acc authpb.Access
			switch strings.ToLower(access) {
			case "granted":
				acc = authpb.Access_GRANTED
			case "denied":
				acc = authpb.Access_DENIED
			default:
				return usageErrorf(path, "--access must be granted or denied, not %q", access)
			}
			return a.withClient(ctx, callOptions{}, func(ctx context.Context, cl *client) error {
				_, err := authpb.NewRulesClient(cl.conn).Create(ctx, &authpb.CreateRequest{Options: opts(), Rule: &authpb.Rule{
					Id: args[0], Scope: scope, Access: acc, Priority: int32(priority),
					Resource: &authpb.Resource{Type: parts[0], Name: parts[1], Endpoint: parts[2]},
				}})
				if err == nil {
					fmt.Fprintln(a.stdout, "Rule created")
				}
				return err
			})
		})
}

func (a *app) authCreateToken() *ffcli.Command {
	const path = "micro auth create token"
	var (
		id, secret string
		expiry     int64
		fs         = flag.NewFlagSet(path, flag.ContinueOnError)
	)
	fs.StringVar(&id, "id", "", "account id or name")
	fs.StringVar(&secret, "secret", "", "the account's secret")
	fs.Int64Var(&expiry, "expiry", 0, "access token lifetime in seconds (default the server's, 15 minutes)")
	opts := nsFlag(fs)
	return a.leaf("token", path+" --id ID --secret S [--expiry seconds] [--namespace NS]", "Create a token for an account", fs,
		func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return usageErrorf(path, "unexpected argument %q", args[0])
			}
			if id == "" && secret == "" {
				return usageErrorf(path, "give --id and --secret")
			}
			return a.withClient(ctx, callOptions{}, func(ctx context.Context, cl *client) error {
				rsp, err := authpb.NewAuthClient(cl.conn).Token(ctx, &authpb.TokenRequest{
					Id: id, Secret: secret, TokenExpiry: expiry, Options: opts(),
				})
				if err != nil {
					return err
				}
				b, err := codec.MarshalJSON(rsp.GetToken())
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "Token created: %s\n", b)
				return nil
			})
		})
}

func (a *app) authListAccounts() *ffcli.Command {
	const path = "micro auth list accounts"
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	opts := nsFlag(fs)
	return a.leaf("accounts", path+" [--namespace NS]", "List the accounts of a namespace", fs,
		func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return usageErrorf(path, "unexpected argument %q", args[0])
			}
			return a.withClient(ctx, callOptions{}, func(ctx context.Context, cl *client) error {
				rsp, err := authpb.NewAccountsClient(cl.conn).List(ctx, &authpb.ListAccountsRequest{Options: opts()})
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 8, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tName\tScopes\tMetadata")
				for _, acc := range rsp.GetAccounts() {
					scopes := strings.Join(acc.GetScopes(), ", ")
					if scopes == "" {
						scopes = "n/a"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", acc.GetId(), acc.GetName(), scopes, formatMetadata(acc.GetMetadata()))
				}
				return tw.Flush()
			})
		})
}

func (a *app) authListRules() *ffcli.Command {
	const path = "micro auth list rules"
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	opts := nsFlag(fs)
	return a.leaf("rules", path+" [--namespace NS]", "List the rules of a namespace", fs,
		func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return usageErrorf(path, "unexpected argument %q", args[0])
			}
			return a.withClient(ctx, callOptions{}, func(ctx context.Context, cl *client) error {
				rsp, err := authpb.NewRulesClient(cl.conn).List(ctx, &authpb.ListRequest{Options: opts()})
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 8, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tScope\tAccess\tResource\tPriority")
				for _, r := range rsp.GetRules() {
					scope := r.GetScope()
					if scope == "" {
						scope = "<public>"
					}
					res := r.GetResource()
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s:%s:%s\t%d\n", r.GetId(), scope, r.GetAccess(),
						res.GetType(), res.GetName(), res.GetEndpoint(), r.GetPriority())
				}
				return tw.Flush()
			})
		})
}

func (a *app) authDeleteAccount() *ffcli.Command {
	const path = "micro auth delete account"
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	opts := nsFlag(fs)
	return a.leaf("account", path+" <id> [--namespace NS]", "Delete an account and revoke its tokens", fs,
		func(ctx context.Context, args []string) error {
			if err := oneArg(path, "account id", args); err != nil {
				return err
			}
			return a.withClient(ctx, callOptions{}, func(ctx context.Context, cl *client) error {
				_, err := authpb.NewAccountsClient(cl.conn).Delete(ctx, &authpb.DeleteAccountRequest{Id: args[0], Options: opts()})
				if err == nil {
					fmt.Fprintln(a.stdout, "Account deleted")
				}
				return err
			})
		})
}

func (a *app) authDeleteRule() *ffcli.Command {
	const path = "micro auth delete rule"
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	opts := nsFlag(fs)
	return a.leaf("rule", path+" <id> [--namespace NS]", "Delete a rule", fs,
		func(ctx context.Context, args []string) error {
			if err := oneArg(path, "rule id", args); err != nil {
				return err
			}
			return a.withClient(ctx, callOptions{}, func(ctx context.Context, cl *client) error {
				_, err := authpb.NewRulesClient(cl.conn).Delete(ctx, &authpb.DeleteRequest{Id: args[0], Options: opts()})
				switch {
				case err == nil:
					fmt.Fprintln(a.stdout, "Rule deleted")
				case merrors.Code(err) == 404:
					// Idempotent, as in Micro: scripts delete a rule that
					// may not be there (the default rule, once).
					fmt.Fprintf(a.stdout, "Rule %s does not exist; nothing to delete\n", args[0])
					return nil
				}
				return err
			})
		})
}

func (a *app) authUpdateSecret() *ffcli.Command {
	const path = "micro auth update secret"
	var (
		oldSecret, newSecret string
		fs                   = flag.NewFlagSet(path, flag.ContinueOnError)
	)
	fs.StringVar(&oldSecret, "old_secret", "", "the current secret (not needed by an admin of the namespace)")
	fs.StringVar(&newSecret, "new_secret", "", "the new secret")
	opts := nsFlag(fs)
	return a.leaf("secret", path+" <id> --new_secret S [--old_secret S] [--namespace NS]",
		"Change an account's secret (revokes its tokens)", fs, func(ctx context.Context, args []string) error {
			if err := oneArg(path, "account id", args); err != nil {
				return err
			}
			if newSecret == "" {
				return usageErrorf(path, "give --new_secret")
			}
			return a.withClient(ctx, callOptions{}, func(ctx context.Context, cl *client) error {
				_, err := authpb.NewAccountsClient(cl.conn).ChangeSecret(ctx, &authpb.ChangeSecretRequest{
					Id: args[0], OldSecret: oldSecret, NewSecret: newSecret, Options: opts(),
				})
				if err == nil {
					fmt.Fprintln(a.stdout, "Account updated")
				}
				return err
			})
		})
}

// formatMetadata renders metadata as "k=v, k2=v2" sorted by key, "n/a"
// when empty.
func formatMetadata(md map[string]string) string {
	if len(md) == 0 {
		return "n/a"
	}
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + md[k]
	}
	return strings.Join(parts, ", ")
}

// splitList splits "a, b,,c" into [a b c].
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// keyValues is a repeatable key=value flag.
type keyValues struct{ m map[string]string }

func (kv *keyValues) String() string {
	if kv == nil {
		return ""
	}
	return formatMetadata(kv.m)
}

func (kv *keyValues) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", s)
	}
	if kv.m == nil {
		kv.m = map[string]string{}
	}
	kv.m[k] = v
	return nil
}
