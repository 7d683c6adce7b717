package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"micro.dev/micro/blocks/auth"
	fauth "micro.dev/micro/framework/auth"
	microclient "micro.dev/micro/framework/client"
	"micro.dev/micro/internal/testkit"
	authpb "micro.dev/micro/proto/auth"
	"micro.dev/micro/proxy"
	"micro.dev/micro/schema"
)

// authServer starts the real auth block behind a real proxy and points the
// CLI at it; it returns the proxy's address.
func authServer(t *testing.T) string {
	t.Helper()
	addr := serveAuth(t, nil)
	t.Setenv("MICRO_PROXY", addr)
	return addr
}

// serveAuth starts the real auth block behind a real proxy on loopback,
// over TLS when tlsCfg is given, and returns the proxy's address.
func serveAuth(t *testing.T, tlsCfg *tls.Config) string {
	t.Helper()
	db, err := schema.Open(context.Background(), filepath.Join(t.TempDir(), "micro.db"),
		schema.Options{Migrations: []schema.Migrations{auth.Migrations}})
	if err != nil {
		t.Fatal(err)
	}
	a := auth.New(db, fauth.Namespaces, auth.WithLogger(slog.New(slog.DiscardHandler)))
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := proxy.New(proxy.Config{Auth: a})
	a.Register(p.Server())
	lis := testkit.Listen(t)
	addr := lis.Addr().String()
	if tlsCfg != nil {
		tlsCfg = tlsCfg.Clone()
		tlsCfg.NextProtos = []string{"h2"}
		lis = tls.NewListener(lis, tlsCfg)
	}
	go p.Serve(lis)
	t.Cleanup(func() {
		p.Stop(time.Second)
		a.Close()
		db.Close()
	})
	return addr
}

// runIn runs the micro command with stdin.
func runIn(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), code
}

// savedLine returns the tokens file's only line, split, and its token.
func savedLine(t *testing.T, dir string) (key string, tok savedToken) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, tokensFileName))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 1 {
		t.Fatalf("tokens file has %d lines:\n%s", len(lines), b)
	}
	i := strings.LastIndex(lines[0], ":")
	raw, err := base64.StdEncoding.DecodeString(lines[0][i+1:])
	if err != nil {
		t.Fatalf("token value is not base64: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&tok); err != nil {
		t.Fatalf("token value %s: %v", raw, err)
	}
	return lines[0][:i], tok
}

func TestLoginFlow(t *testing.T) {
	dir := isolate(t)
	addr := authServer(t)

	wantFail(t, 1, "You are not logged in", "user")
	out, errOut, code := runIn(t, "admin\nmicro\n", "login")
	if code != 0 || !strings.HasPrefix(out, "Enter username: Enter password: ") || !strings.HasSuffix(out, "Successfully logged in.\n") {
		t.Fatalf("login: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	key, tok := savedLine(t, dir)
	if key != "micro://"+addr+"/micro/admin" {
		t.Fatalf("key %q", key)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.Expiry-tok.Created != int64(auth.DefaultTokenExpiry/time.Second) {
		t.Fatalf("saved token %+v", tok)
	}
	if info, _ := os.Stat(filepath.Join(dir, tokensFileName)); info.Mode().Perm() != 0o600 {
		t.Fatalf("tokens file mode %v", info.Mode())
	}
	if out := mustRun(t, "user"); out != "admin\n" {
		t.Fatalf("user: %q", out)
	}
	if out := mustRun(t, "user", "token"); out != tok.AccessToken+"\n" {
		t.Fatalf("user token: %q", out)
	}

	// Within a minute of expiry the CLI refreshes, rotating the refresh
	// token, and saves the new pair.
	tok.Expiry = time.Now().Add(10 * time.Second).Unix()
	if err := updateTokens(filepath.Join(dir, tokensFileName), key, &tok); err != nil {
		t.Fatal(err)
	}
	fresh := strings.TrimSpace(mustRun(t, "user", "token"))
	_, saved := savedLine(t, dir)
	// (The access token may equal the old one: same claims, same second.)
	if saved.AccessToken != fresh || saved.RefreshToken == tok.RefreshToken || saved.Expiry <= tok.Expiry {
		t.Fatalf("no refresh: printed %q, saved %+v", fresh, saved)
	}
	cl, err := dial(microclient.Target{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := authpb.NewAuthClient(cl).Token(context.Background(), &authpb.TokenRequest{RefreshToken: tok.RefreshToken}); err == nil {
		t.Fatal("the refresh token the CLI used still works")
	}
	// An expired login whose refresh fails says so.
	saved.Expiry = time.Now().Add(-time.Minute).Unix()
	saved.RefreshToken = "revoked"
	if err := updateTokens(filepath.Join(dir, tokensFileName), key, &saved); err != nil {
		t.Fatal(err)
	}
	wantFail(t, 2, "Your login has expired. Run 'micro login' to log in again", "user", "token")

	// Flags instead of prompts; a wrong password tells nothing more.
	if out := mustRun(t, "login", "--username", "admin", "--password", "micro"); out != "Successfully logged in.\n" {
		t.Fatalf("login with flags: %q", out)
	}
	wantFail(t, 2, "Login failed: invalid username or password", "login", "--username", "admin", "--password", "nope")
	wantFail(t, 2, "Login failed: invalid username or password", "login", "--username", "nobody", "--password", "nope")
	_, errOut, code = runIn(t, "admin\n", "login")
	if code != 1 || !strings.Contains(errOut, "No answer on stdin") {
		t.Fatalf("login without a password on stdin: exit %d %q", code, errOut)
	}

	// Accounts and rules.
	out = mustRun(t, "auth", "create", "account", "alice", "--secret", "s3cret", "--scopes", "admin", "--namespace", "acme", "--metadata", "team=x")
	if !regexp.MustCompile(`^Account created: \{.*"id":"alice".*"issuer":"acme".*"secret":"s3cret".*\}\n$`).MatchString(out) {
		t.Fatalf("create account: %q", out)
	}
	out = mustRun(t, "auth", "list", "accounts", "--namespace", "acme")
	if !regexp.MustCompile(`^ID\s+Name\s+Scopes\s+Metadata\nalice\s+alice\s+admin\s+team=x\n$`).MatchString(out) || strings.Contains(out, "s3cret") {
		t.Fatalf("list accounts: %q", out)
	}
	if out := mustRun(t, "auth", "create", "rule", "lockdown", "--scope", "*", "--resource", "*:*:*", "--priority", "1"); out != "Rule created\n" {
		t.Fatalf("create rule: %q", out)
	}
	if out := mustRun(t, "auth", "delete", "rule", "default"); out != "Rule deleted\n" {
		t.Fatalf("delete rule: %q", out)
	}
	out = mustRun(t, "auth", "list", "rules")
	if !regexp.MustCompile(`^ID\s+Scope\s+Access\s+Resource\s+Priority\nlockdown\s+\*\s+GRANTED\s+\*:\*:\*\s+1\nauth-token\s+<public>\s+GRANTED\s+service:auth:Auth.Token\s+0\n$`).MatchString(out) {
		t.Fatalf("list rules: %q", out)
	}
	out = mustRun(t, "auth", "create", "token", "--id", "alice", "--secret", "s3cret", "--namespace", "acme", "--expiry", "120")
	if !regexp.MustCompile(`^Token created: \{"access_token":"eyJ.*","refresh_token":".+","created":"\d+","expiry":"\d+"\}\n$`).MatchString(out) {
		t.Fatalf("create token: %q", out)
	}
	wantFail(t, 1, "--resource must be type:name:endpoint, e.g. service:helloworld:* or *:*:*. Please refer to 'micro auth create rule --help'",
		"auth", "create", "rule", "x", "--resource", "service")

	// Another namespace, its own login.
	mustRun(t, "user", "namespace", "set", "acme")
	if out := mustRun(t, "user", "namespace"); out != "acme\n" {
		t.Fatalf("user namespace: %q", out)
	}
	if _, errOut, code := runIn(t, "alice\ns3cret\n", "login"); code != 0 {
		t.Fatalf("alice login: %s", errOut)
	}
	if out := mustRun(t, "user"); out != "alice\n" {
		t.Fatalf("user in acme: %q", out)
	}
	// Her own password, prompted twice for the new one.
	if out, errOut, code := runIn(t, "s3cret\nnewpw\nnewpw\n", "user", "set", "password"); code != 0 || !strings.HasSuffix(out, "Password changed.\n") {
		t.Fatalf("set password: exit %d %q %q", code, out, errOut)
	}
	if out := mustRun(t, "user"); out != "alice\n" {
		t.Fatalf("user after password change: %q", out)
	}
	mustRun(t, "auth", "list", "accounts") // the new login works
	if _, errOut, code := runIn(t, "one\ntwo\n", "user", "set", "password", "--old-password", "newpw"); code != 1 || errOut != "Passwords do not match\n" {
		t.Fatalf("mismatched new passwords: exit %d %q", code, errOut)
	}
	mustRun(t, "logout")
	wantFail(t, 1, "You are not logged in", "user")
	wantFail(t, 2, "Not authorized to perform this request", "auth", "list", "accounts")
}
