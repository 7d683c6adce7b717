package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/peterbourgon/ff/v3/ffcli"
	"golang.org/x/term"

	merrors "micro.dev/micro/framework/errors"
	authpb "micro.dev/micro/proto/auth"
)

// loginCommand is `micro login`.
func (a *app) loginCommand() *ffcli.Command {
	const path = "micro login"
	var (
		username, password string
		fs                 = flag.NewFlagSet(path, flag.ContinueOnError)
	)
	fs.StringVar(&username, "username", "", "account id or name (prompted when not given)")
	alias(fs, "username", "email")
	fs.StringVar(&password, "password", "", "password (prompted, without echo, when not given)")
	return a.leaf("login", path+" [--username U] [--password P]",
		"Log in to the current environment and namespace", fs, func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return usageErrorf(path, "unexpected argument %q", args[0])
			}
			prompted := false
			var err error
			if username == "" {
				if username, err = a.prompt("Enter username: ", false); err != nil {
					return err
				}
				prompted = true
			}
			if password == "" {
				if password, err = a.prompt("Enter password: ", true); err != nil {
					return err
				}
				prompted = true
			}
			if prompted && !a.stdinIsTerminal() {
				fmt.Fprintln(a.stdout) // the piped answers were not echoed
			}
			if err := a.logIn(ctx, username, password); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, "Successfully logged in.")
			return nil
		})
}

// logIn gets a token for id/secret in the current namespace and makes it
// the env's current login.
func (a *app) logIn(ctx context.Context, id, secret string) error {
	var rsp *authpb.TokenResponse
	var t *target
	err := a.withClient(ctx, callOptions{anonymous: true}, func(ctx context.Context, cl *client) error {
		t = cl.target
		var err error
		rsp, err = authpb.NewAuthClient(cl.conn).Token(ctx, &authpb.TokenRequest{
			Id: id, Secret: secret, Options: &authpb.Options{Namespace: t.Namespace},
		})
		if me := merrors.FromError(err, clientID); me != nil && me.Code == 401 {
			// Wrong credentials are Micro's line; any other refusal (the
			// default password from another machine) says what to do.
			if me.Detail == "" || me.Detail == "invalid account id or secret" {
				return exitf(exitUnauthorized, "Login failed: invalid username or password")
			}
			return exitf(exitUnauthorized, "Login failed: %s", me.Detail)
		}
		return err
	})
	if err != nil {
		return err
	}
	tok := fromProtoToken(rsp.GetToken())
	accountID, _ := claimsOf(tok.AccessToken)["sub"].(string)
	if accountID == "" {
		return exitf(exitFailure, "Login failed: the server's token names no account")
	}
	files, err := a.files()
	if err != nil {
		return err
	}
	if err := updateTokens(files.tokens, tokenKey(t.Address, t.Namespace, accountID), &tok); err != nil {
		return err
	}
	return a.updateConfig(func(c *Config) error {
		c.Set(t.Env.Name+".current-user", accountID)
		return nil
	})
}

// logoutCommand is `micro logout`: forget the current login of the env.
func (a *app) logoutCommand() *ffcli.Command {
	const path = "micro logout"
	return a.leaf("logout", path, "Log out of the current environment",
		flag.NewFlagSet(path, flag.ContinueOnError), func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return usageErrorf(path, "unexpected argument %q", args[0])
			}
			t, err := a.target()
			if err != nil {
				return err
			}
			s, err := a.session(t)
			if err != nil {
				return err
			}
			if s.user == "" {
				return nil
			}
			return a.logOut(t, s.tokens, s.key, s.user)
		})
}

// logOut forgets user's login to t (its line key in the tokens file):
// every line of it goes, however the address was spelled when it was
// saved, and the env's current user.
func (a *app) logOut(t *target, tokens, key, user string) error {
	for id := user; key != "" && id == user; {
		if err := updateTokens(tokens, key, nil); err != nil {
			return err
		}
		lines, err := readTokens(tokens)
		if err != nil {
			return err
		}
		key, id = findLogin(lines, t.Address, t.Namespace, user)
	}
	return a.updateConfig(func(c *Config) error {
		c.Delete(t.Env.Name + ".current-user")
		return nil
	})
}

// userCommand is `micro user` and its subcommands.
func (a *app) userCommand() *ffcli.Command {
	nsCmd := &ffcli.Command{
		Name:       "namespace",
		ShortUsage: "micro user namespace [set <namespace>]",
		ShortHelp:  "Print the current namespace, or set it",
		FlagSet:    flag.NewFlagSet("micro user namespace", flag.ContinueOnError),
		Subcommands: []*ffcli.Command{
			a.leaf("set", "micro user namespace set <namespace>", "Make <namespace> the current namespace of the env",
				flag.NewFlagSet("micro user namespace set", flag.ContinueOnError), a.userNamespaceSet),
		},
	}
	nsCmd.Exec = func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			return unrecognizedSubcommand(nsCmd, args[0])
		}
		t, err := a.target()
		if err != nil {
			return err
		}
		fmt.Fprintln(a.stdout, t.Namespace)
		return nil
	}
	setCmd := &ffcli.Command{
		Name:        "set",
		ShortUsage:  "micro user set password",
		ShortHelp:   "Change your account's settings",
		FlagSet:     flag.NewFlagSet("micro user set", flag.ContinueOnError),
		Subcommands: []*ffcli.Command{a.userSetPassword()},
	}
	setCmd.Exec = a.group(setCmd)
	cmd := &ffcli.Command{
		Name:       "user",
		ShortUsage: "micro user [config [get|set|delete <key> [value]] | token | namespace [set <ns>] | set password]",
		ShortHelp:  "Print who you are logged in as, your token or namespace",
		FlagSet:    flag.NewFlagSet("micro user", flag.ContinueOnError),
		Subcommands: []*ffcli.Command{
			a.leaf("token", "micro user token", "Print your access token (refreshed when about to expire)",
				flag.NewFlagSet("micro user token", flag.ContinueOnError), a.userToken),
			a.userConfigCommand(), // userconfig.go
			nsCmd,
			setCmd,
		},
	}
	cmd.Exec = func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			return unrecognizedSubcommand(cmd, args[0])
		}
		s, tok, err := a.loggedIn()
		if err != nil {
			return err
		}
		name, _ := claimsOf(tok.AccessToken)["name"].(string)
		if name == "" {
			name = s.user
		}
		fmt.Fprintln(a.stdout, name)
		return nil
	}
	return cmd
}

// userToken is `micro user token`.
func (a *app) userToken(ctx context.Context, args []string) error {
	if len(args) > 0 {
		return usageErrorf("micro user token", "unexpected argument %q", args[0])
	}
	return a.withClient(ctx, callOptions{}, func(ctx context.Context, cl *client) error {
		if cl.token == "" {
			return exitf(exitFailure, "You are not logged in")
		}
		fmt.Fprintln(a.stdout, cl.token)
		return nil
	})
}

// loggedIn returns the current login, read from this machine without
// asking the server, or "You are not logged in".
func (a *app) loggedIn() (*session, savedToken, error) {
	t, err := a.target()
	if err != nil {
		return nil, savedToken{}, err
	}
	s, err := a.session(t)
	if err != nil {
		return nil, savedToken{}, err
	}
	tok, ok, err := loadToken(s.tokens, s.key)
	if err != nil {
		return nil, savedToken{}, err
	}
	if s.user == "" || !ok {
		return nil, savedToken{}, exitf(exitFailure, "You are not logged in")
	}
	return s, tok, nil
}

// userNamespaceSet is `micro user namespace set <ns>`.
func (a *app) userNamespaceSet(_ context.Context, args []string) error {
	const path = "micro user namespace set"
	if len(args) != 1 {
		return usageErrorf(path, "expected one namespace")
	}
	ns := args[0]
	if !validNamespace(ns) {
		return exitf(exitFailure, "Invalid namespace %q: use letters, digits, '.', '_' or '-', starting with a letter or digit", ns)
	}
	return a.updateConfig(func(c *Config) error {
		envs, err := c.Envs()
		if err != nil {
			return err
		}
		name := a.envName(c)
		if _, ok := envs[name]; !ok {
			return exitf(exitFailure, "Environment '%s' does not exist", name)
		}
		c.SetNamespace(name, ns)
		return nil
	})
}

// validNamespace mirrors the server's rule for namespace names.
func validNamespace(ns string) bool {
	if ns == "" || len(ns) > 64 {
		return false
	}
	for i := 0; i < len(ns); i++ {
		c := ns[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return false
		}
	}
	return true
}

// userSetPassword is `micro user set password`. The server revokes every
// token of the account when its secret changes, so the CLI logs in again
// with the new password.
func (a *app) userSetPassword() *ffcli.Command {
	const path = "micro user set password"
	var (
		oldPW, newPW string
		fs           = flag.NewFlagSet(path, flag.ContinueOnError)
	)
	fs.StringVar(&oldPW, "old-password", "", "current password (prompted when not given)")
	alias(fs, "old-password", "old_password")
	fs.StringVar(&newPW, "new-password", "", "new password (prompted twice when not given)")
	alias(fs, "new-password", "new_password")
	return a.leaf("password", path+" [--old-password P] [--new-password P]", "Change your password", fs,
		func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return usageErrorf(path, "unexpected argument %q", args[0])
			}
			s, _, err := a.loggedIn()
			if err != nil {
				return err
			}
			if oldPW == "" {
				if oldPW, err = a.prompt("Enter current password: ", true); err != nil {
					return err
				}
			}
			if newPW == "" {
				if newPW, err = a.prompt("Enter new password: ", true); err != nil {
					return err
				}
				again, err := a.prompt("Confirm new password: ", true)
				if err != nil {
					return err
				}
				if again != newPW {
					return exitf(exitFailure, "Passwords do not match")
				}
				if !a.stdinIsTerminal() {
					fmt.Fprintln(a.stdout)
				}
			}
			if newPW == "" {
				return exitf(exitFailure, "The new password must not be empty")
			}
			err = a.withClient(ctx, callOptions{}, func(ctx context.Context, cl *client) error {
				_, err := authpb.NewAccountsClient(cl.conn).ChangeSecret(ctx, &authpb.ChangeSecretRequest{
					Id: s.user, OldSecret: oldPW, NewSecret: newPW, Options: &authpb.Options{Namespace: cl.target.Namespace},
				})
				if merrors.Code(err) == 401 {
					return exitf(exitUnauthorized, "The current password is not correct")
				}
				return err
			})
			if err != nil {
				return err
			}
			// The server revoked every token of the account with the old
			// password: log in again as anyone would.
			if err := a.logIn(ctx, s.user, newPW); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, "Password changed.")
			return nil
		})
}

// prompt asks for one line on stdin. A secret is read without echo when
// stdin is a terminal; otherwise (a pipe, a test) lines are read as they
// come.
func (a *app) prompt(label string, secret bool) (string, error) {
	fmt.Fprint(a.stdout, label)
	if f, ok := a.stdin.(*os.File); ok && secret && term.IsTerminal(int(f.Fd())) {
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.stdout)
		if err != nil {
			return "", err
		}
		return string(b), nil
	}
	if a.in == nil {
		a.in = bufio.NewReader(a.stdin)
	}
	line, err := a.in.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		if errors.Is(err, io.EOF) {
			return "", exitf(exitFailure, "\nNo answer on stdin to %q", strings.TrimSpace(label))
		}
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func (a *app) stdinIsTerminal() bool {
	f, ok := a.stdin.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
