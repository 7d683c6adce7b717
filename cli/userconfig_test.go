package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigFileFlag: -c names the config file, and its logins go to the
// tokens file Micro names after it; the default state directory is left
// alone. Micro's keys read and change that file.
func TestConfigFileFlag(t *testing.T) {
	dir := isolate(t)
	addr := serveAuth(t, nil)
	cfg := filepath.Join(t.TempDir(), "cfg.json")

	mustRun(t, "-c", cfg, "env", "add", "staging", addr)
	mustRun(t, "--config", cfg, "-e", "staging", "login", "--username", "admin", "--password", "micro")
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the default state directory was written: %v", err)
	}
	b, err := os.ReadFile(strings.TrimSuffix(cfg, ".json") + "-tokens.json")
	if err != nil || !strings.HasPrefix(string(b), "micro://"+addr+"/micro/admin:") {
		t.Fatalf("tokens beside the config file: %v %q", err, b)
	}
	token := mustRun(t, "-c", cfg, "-e", "staging", "user", "token")
	if got := mustRun(t, "-c", cfg, "user", "config", "get", "micro.auth.staging.token"); got != token {
		t.Fatalf("micro.auth.staging.token = %q, want %q", got, token)
	}
	if got := mustRun(t, "-c", cfg, "user", "config", "get", "micro.auth.staging.refresh-token"); len(got) < 10 {
		t.Fatalf("refresh-token = %q", got)
	}
	// Without -c the login is not there: the files are separate.
	wantFail(t, 1, "Environment 'staging' does not exist", "-e", "staging", "user")
	t.Setenv(configFileEnv, cfg)
	if out := mustRun(t, "-e", "staging", "user"); out != "admin\n" {
		t.Fatalf("MICRO_CONFIG_FILE: user = %q", out)
	}
	t.Setenv(configFileEnv, "")

	// Plain keys are config.json's; a namespace or env is checked.
	mustRun(t, "-c", cfg, "user", "config", "set", "namespaces.staging.current", "foo")
	if out := mustRun(t, "-c", cfg, "-e", "staging", "user", "namespace"); out != "foo\n" {
		t.Fatalf("namespace after set = %q", out)
	}
	wantFail(t, 1, `Invalid namespace "x/y": use letters, digits, '.', '_' or '-', starting with a letter or digit`,
		"-c", cfg, "user", "config", "set", "namespaces.staging.current", "x/y")
	wantFail(t, 1, "Environment 'nope' does not exist", "-c", cfg, "user", "config", "set", "env", "nope")
	mustRun(t, "-c", cfg, "user", "config", "set", "env", "staging")
	mustRun(t, "-c", cfg, "user", "config", "set", "namespaces.staging.all", "foo,bar")
	if out := mustRun(t, "-c", cfg, "user", "config", "get", "namespaces.staging.all"); out != "foo,bar\n" {
		t.Fatalf("namespaces.staging.all = %q", out)
	}
	if out := mustRun(t, "-c", cfg, "user", "config", "get", "no.such.key"); out != "\n" {
		t.Fatalf("missing key = %q", out)
	}
	// In namespace foo there is no login; back in micro there is.
	if out := mustRun(t, "-c", cfg, "user", "config", "get", "micro.auth.staging.token"); out != "\n" {
		t.Fatalf("token in namespace foo = %q", out)
	}
	mustRun(t, "-c", cfg, "user", "config", "delete", "namespaces.staging.current")
	out := mustRun(t, "-c", cfg, "user", "config")
	if !strings.Contains(out, "user: admin\nnamespace: micro\nenvironment: staging\ngit.baseurl: n/a\nconfig: "+cfg+"\n") {
		t.Fatalf("user config:\n%s", out)
	}

	// Deleting the token logs out; setting one logs in as its account.
	mustRun(t, "-c", cfg, "user", "config", "delete", "micro.auth.staging.token")
	wantFail(t, 1, "You are not logged in", "-c", cfg, "user")
	mustRun(t, "-c", cfg, "user", "config", "set", "micro.auth.staging.token", strings.TrimSpace(token))
	if out := mustRun(t, "-c", cfg, "user"); out != "admin\n" {
		t.Fatalf("user after setting the token = %q", out)
	}
	wantFail(t, 1, "The value is not an access token: a token is a JWT that names its account",
		"-c", cfg, "user", "config", "set", "micro.auth.staging.token", "junk")
	wantFail(t, 1, "Expected a key and a value. Please refer to 'micro user config set --help'",
		"-c", cfg, "user", "config", "set", "env")
}

// TestShortSource: Micro's short names under a git base; no base, a clear
// refusal.
func TestShortSource(t *testing.T) {
	for _, c := range []struct{ base, short, want string }{
		{"github.com/org/services", "helloworld", "github.com/org/services/helloworld"},
		{"github.com/org/services/", "helloworld@v1.2", "github.com/org/services/helloworld@v1.2"},
		{"https://git.example.com/org/services.git", "hello", "https://git.example.com/org/services.git//hello"},
		{"file:///srv/repo//apps", "hello@main", "file:///srv/repo//apps/hello@main"},
		{"git@host:org/services.git", "hello", "git@host:org/services.git//hello"},
	} {
		if got := shortSource(c.base, c.short); got != c.want {
			t.Errorf("shortSource(%q, %q) = %q, want %q", c.base, c.short, got, c.want)
		}
	}
	isolate(t)
	t.Chdir(t.TempDir())
	wantFail(t, 1, "Directory helloworld does not exist; to run a service by its short name, set the git repository it is in: micro user config set git.baseurl github.com/org/repo",
		"run", "helloworld")
}
