package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnvDefault(t *testing.T) {
	dir := isolate(t)
	out := mustRun(t, "env")
	if out != "* local  127.0.0.1:8081  Local running Micro Server\n" {
		t.Errorf("micro env = %q", out)
	}
	if out := mustRun(t, "env", "get"); out != "local\n" {
		t.Errorf("micro env get = %q", out)
	}
	// Reading creates nothing in the state directory.
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("state dir created by a read-only command: %v", err)
	}
}

func TestEnvLifecycle(t *testing.T) {
	dir := isolate(t)
	mustRun(t, "env", "add", "prod", "proxy.example.com:443", "Production", "cluster")
	mustRun(t, "env", "add", "bare")
	out := mustRun(t, "env")
	want := "  bare   none\n" +
		"* local  127.0.0.1:8081         Local running Micro Server\n" +
		"  prod   proxy.example.com:443  Production cluster\n"
	if out != want {
		t.Errorf("micro env =\n%s\nwant\n%s", out, want)
	}

	mustRun(t, "env", "set", "prod")
	if out := mustRun(t, "env", "get"); out != "prod\n" {
		t.Errorf("env get after set = %q", out)
	}
	if out := mustRun(t, "env"); !strings.Contains(out, "* prod") {
		t.Errorf("current env not marked:\n%s", out)
	}
	// --env and MICRO_ENV select another env for one run.
	if out := mustRun(t, "--env", "local", "env", "get"); out != "local\n" {
		t.Errorf("--env local env get = %q", out)
	}
	if out := mustRun(t, "-e", "bare", "env", "get"); out != "bare\n" {
		t.Errorf("-e bare env get = %q", out)
	}
	t.Setenv("MICRO_ENV", "local")
	if out := mustRun(t, "env", "get"); out != "local\n" {
		t.Errorf("MICRO_ENV=local env get = %q", out)
	}
	t.Setenv("MICRO_ENV", "")

	// The file is in Micro's format.
	b, err := os.ReadFile(filepath.Join(dir, configFileName))
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Env  string `json:"env"`
		Envs string `json:"envs"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatalf("config.json: %v\n%s", err, b)
	}
	if raw.Env != "prod" || !strings.Contains(raw.Envs, `"prod":{"Name":"prod","ProxyAddress":"proxy.example.com:443","Description":"Production cluster"}`) {
		t.Errorf("config.json = %s", b)
	}

	wantFail(t, 1, "Environment 'prod' is the current environment; switch with 'micro env set local' before deleting it", "env", "del", "prod")
	mustRun(t, "env", "set", "local")
	mustRun(t, "env", "del", "prod")
	if out := mustRun(t, "env"); strings.Contains(out, "prod") {
		t.Errorf("prod still listed:\n%s", out)
	}
}

func TestEnvErrors(t *testing.T) {
	isolate(t)
	wantFail(t, 1, "Environment 'nope' does not exist", "env", "set", "nope")
	wantFail(t, 1, "Environment 'nope' does not exist", "env", "del", "nope")
	wantFail(t, 1, "Environment 'local' is built in and cannot be deleted", "env", "del", "local")
	wantFail(t, 1, "Environment 'local' is built in and cannot be changed; add one under another name", "env", "add", "local", "1.2.3.4:1")
	wantFail(t, 1, `Invalid environment name "a.b": use letters, digits, '-' or '_'`, "env", "add", "a.b")
	wantFail(t, 1, `Invalid environment name "envs": it is reserved`, "env", "add", "envs")
	wantFail(t, 1, "Expected one environment name. Please refer to 'micro env set --help'", "env", "set")
	wantFail(t, 1, "Expected an environment name. Please refer to 'micro env add --help'", "env", "add")
	// An unknown env is refused by every command that needs one.
	wantFail(t, 1, "Environment 'ghost' does not exist", "--env", "ghost", "store", "list")
}

func TestEnvDelForgetsNamespaces(t *testing.T) {
	dir := isolate(t)
	mustRun(t, "env", "add", "dev", "127.0.0.1:9081")
	if err := updateConfig(filepath.Join(dir, configFileName), func(c *Config) error {
		c.SetNamespace("dev", "team")
		c.Set("dev.current-user", "bob")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "env", "del", "dev")
	c, err := loadConfig(filepath.Join(dir, configFileName))
	if err != nil {
		t.Fatal(err)
	}
	if c.Get("namespaces.dev") != nil || c.Get("dev") != nil {
		t.Errorf("dev's state left behind: %v", c.data)
	}
}
