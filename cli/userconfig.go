package cli

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/peterbourgon/ff/v3/ffcli"
)

// userConfigCommand is `micro user config [get|set|delete KEY [VALUE]]`:
// the config file by Micro's dotted keys. Most keys are config.json's own
// (env, envs, namespaces.<env>.current, namespaces.<env>.all,
// <env>.current-user, anything else a script keeps there). Micro's login
// keys, micro.auth.<env>.token, .refresh-token and .expiry, are mapped onto
// the env's current login in the tokens file, where logins live here.
func (a *app) userConfigCommand() *ffcli.Command {
	leaf := func(name, usage, help string, run func(context.Context, []string) error) *ffcli.Command {
		path := "micro user config " + name
		return a.leaf(name, path+" "+usage, help, flag.NewFlagSet(path, flag.ContinueOnError), run)
	}
	cmd := &ffcli.Command{
		Name:       "config",
		ShortUsage: "micro user config [get <key> | set <key> <value> | delete <key>]",
		ShortHelp:  "Print or change the CLI's config by key (Micro's keys)",
		LongHelp: "Bare, print the current user, namespace, environment, git base and config file. With get, set\n" +
			"and delete, read or change one dotted key of the config file: env, envs,\n" +
			"namespaces.<env>.current, namespaces.<env>.all, <env>.current-user, or any other.\n" +
			"micro.auth.<env>.token, .refresh-token and .expiry are the env's current login: setting\n" +
			"the token logs in with it, deleting it logs out. A missing key prints an empty line.",
		FlagSet: flag.NewFlagSet("micro user config", flag.ContinueOnError),
		Subcommands: []*ffcli.Command{
			leaf("get", "<key>", "Print the value of a key (empty when unset)", a.userConfigGet),
			leaf("set", "<key> <value>", "Set a key", a.userConfigSet),
			leaf("delete", "<key>", "Delete a key", a.userConfigDelete),
		},
	}
	cmd.Exec = func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			return unrecognizedSubcommand(cmd, args[0])
		}
		return a.userConfigSummary()
	}
	return cmd
}

// userConfigSummary prints Micro's summary lines (but git.credentials:
// micro has no such setting), and which file they come from.
func (a *app) userConfigSummary() error {
	files, err := a.files()
	if err != nil {
		return err
	}
	t, err := a.target()
	if err != nil {
		return err
	}
	s, err := a.session(t)
	if err != nil {
		return err
	}
	user := "n/a"
	if tok, ok, err := loadToken(s.tokens, s.key); err != nil {
		return err
	} else if ok && s.user != "" {
		user = s.user
		if name, _ := claimsOf(tok.AccessToken)["name"].(string); name != "" {
			user = name
		}
	}
	fmt.Fprintln(a.stdout, "user:", user)
	fmt.Fprintln(a.stdout, "namespace:", t.Namespace)
	fmt.Fprintln(a.stdout, "environment:", t.Env.Name)
	c, err := a.config()
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, "git.baseurl:", cmp.Or(gitBase(c, t.Env.Name), "n/a"))
	fmt.Fprintln(a.stdout, "config:", files.config)
	return nil
}

// configKey checks a dotted key given on the command line.
func configKey(path string, args []string, n int, what string) (string, error) {
	if len(args) != n {
		return "", usageErrorf(path, "expected %s", what)
	}
	key := args[0]
	if key == "" || strings.HasPrefix(key, ".") || strings.HasSuffix(key, ".") || strings.Contains(key, "..") {
		return "", usageErrorf(path, "invalid key %q: use dotted names such as namespaces.local.current", key)
	}
	return key, nil
}

// loginKey reads Micro's login keys: micro.auth.<env>.<field>.
func loginKey(key string) (env, field string, ok bool) {
	parts := strings.Split(key, ".")
	if len(parts) != 4 || parts[0] != "micro" || parts[1] != "auth" {
		return "", "", false
	}
	switch parts[3] {
	case "token", "refresh-token", "expiry":
		return parts[2], parts[3], true
	}
	return "", "", false
}

// login is the current login of an env: its line in the tokens file.
type login struct {
	target            *target
	tokens, key, user string
	token             savedToken
	found             bool
}

// loginOf finds env's current login in c, as a command in that env finds
// it (session): the tokens file's line for the env's server and namespace.
func (a *app) loginOf(c *Config, env string) (*login, error) {
	t, err := a.targetIn(c, env)
	if err != nil {
		return nil, err
	}
	files, err := a.files()
	if err != nil {
		return nil, err
	}
	lines, err := readTokens(files.tokens)
	if err != nil {
		return nil, err
	}
	l := &login{target: t, tokens: files.tokens}
	if l.key, l.user = findLogin(lines, t.Address, t.Namespace, c.String(env+".current-user")); l.key == "" {
		return l, nil
	}
	l.token, l.found, err = loadToken(l.tokens, l.key)
	return l, err
}

func (a *app) userConfigGet(_ context.Context, args []string) error {
	key, err := configKey("micro user config get", args, 1, "one key")
	if err != nil {
		return err
	}
	c, err := a.config()
	if err != nil {
		return err
	}
	env, field, ok := loginKey(key)
	if !ok {
		fmt.Fprintln(a.stdout, c.String(key))
		return nil
	}
	l, err := a.loginOf(c, env)
	if err != nil {
		return err
	}
	var v string
	if l.found {
		switch field {
		case "token":
			v = l.token.AccessToken
		case "refresh-token":
			v = l.token.RefreshToken
		case "expiry":
			v = strconv.FormatInt(l.token.Expiry, 10)
		}
	}
	fmt.Fprintln(a.stdout, v)
	return nil
}

func (a *app) userConfigSet(_ context.Context, args []string) error {
	const path = "micro user config set"
	key, err := configKey(path, args, 2, "a key and a value")
	if err != nil {
		return err
	}
	value := args[1]
	if env, field, ok := loginKey(key); ok {
		return a.setLogin(env, field, value)
	}
	return a.updateConfig(func(c *Config) error {
		switch {
		case key == "env":
			envs, err := c.Envs()
			if err != nil {
				return err
			}
			if _, ok := envs[value]; !ok {
				return exitf(exitFailure, "Environment '%s' does not exist", value)
			}
		case strings.HasPrefix(key, "namespaces.") && strings.HasSuffix(key, ".current") && strings.Count(key, ".") == 2:
			if !validNamespace(value) {
				return exitf(exitFailure, "Invalid namespace %q: use letters, digits, '.', '_' or '-', starting with a letter or digit", value)
			}
		}
		c.Set(key, value)
		if key == "envs" {
			if _, err := c.Envs(); err != nil {
				return exitf(exitFailure, "%s", capitalize(err.Error()))
			}
		}
		return nil
	})
}

// setLogin sets a field of env's login. A token replaces the login with
// the account the token names (its "sub" claim), and makes that account
// the env's current user; the other fields change the current login.
func (a *app) setLogin(env, field, value string) error {
	c, err := a.config()
	if err != nil {
		return err
	}
	if field == "token" {
		claims := claimsOf(value)
		id, _ := claims["sub"].(string)
		if id == "" {
			return exitf(exitFailure, "The value is not an access token: a token is a JWT that names its account")
		}
		t, err := a.targetIn(c, env)
		if err != nil {
			return err
		}
		tok := savedToken{AccessToken: value}
		if n, ok := claims["iat"].(float64); ok {
			tok.Created = int64(n)
		}
		if n, ok := claims["exp"].(float64); ok {
			tok.Expiry = int64(n)
		}
		files, err := a.files()
		if err != nil {
			return err
		}
		if err := updateTokens(files.tokens, tokenKey(t.Address, t.Namespace, id), &tok); err != nil {
			return err
		}
		return a.updateConfig(func(c *Config) error {
			c.Set(env+".current-user", id)
			return nil
		})
	}
	l, err := a.loginOf(c, env)
	if err != nil {
		return err
	}
	if !l.found {
		return exitf(exitFailure, "Environment '%s' has no login: run 'micro login' or set micro.auth.%s.token first", env, env)
	}
	switch field {
	case "refresh-token":
		l.token.RefreshToken = value
	case "expiry":
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil || n < 0 {
			return exitf(exitFailure, "Invalid expiry %q: give unix seconds", value)
		}
		l.token.Expiry = n
	}
	return updateTokens(l.tokens, l.key, &l.token)
}

func (a *app) userConfigDelete(_ context.Context, args []string) error {
	key, err := configKey("micro user config delete", args, 1, "one key")
	if err != nil {
		return err
	}
	env, field, ok := loginKey(key)
	if !ok {
		return a.updateConfig(func(c *Config) error {
			c.Delete(key)
			return nil
		})
	}
	c, err := a.config()
	if err != nil {
		return err
	}
	l, err := a.loginOf(c, env)
	if err != nil || !l.found {
		return err // nothing to delete
	}
	switch field {
	case "token":
		return a.logOut(l.target, l.tokens, l.key, l.user)
	case "refresh-token":
		l.token.RefreshToken = ""
		return updateTokens(l.tokens, l.key, &l.token)
	default:
		return exitf(exitFailure, "micro.auth.%s.expiry cannot be deleted; delete micro.auth.%s.token to log out", env, env)
	}
}
