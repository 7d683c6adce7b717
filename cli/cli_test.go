package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"micro.dev/micro/node"
)

// isolate points the CLI at a fresh state directory and clears the
// variables that would otherwise leak in from the developer's shell.
func isolate(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "micro")
	t.Setenv(configDirEnv, dir)
	for _, k := range []string{"MICRO_CONFIG_FILE", "MICRO_ENV", "MICRO_NAMESPACE", "MICRO_PROXY", "MICRO_PROXY_CA", "MICRO_PROXY_INSECURE"} {
		t.Setenv(k, "")
	}
	return dir
}

// run runs the micro command with args and returns its output and exit code.
func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(context.Background(), args, strings.NewReader(""), &out, &errOut)
	return out.String(), errOut.String(), code
}

// mustRun runs args and fails the test unless they succeed.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := run(t, args...)
	if code != 0 {
		t.Fatalf("micro %s: exit %d, stderr %q", strings.Join(args, " "), code, errOut)
	}
	return out
}

// wantFail runs args and checks the exit code and the first line of stderr.
func wantFail(t *testing.T, code int, msg string, args ...string) {
	t.Helper()
	_, errOut, got := run(t, args...)
	first, _, _ := strings.Cut(errOut, "\n")
	if got != code || first != msg {
		t.Fatalf("micro %s: exit %d, stderr %q; want exit %d, %q", strings.Join(args, " "), got, errOut, code, msg)
	}
}

func TestRootErrors(t *testing.T) {
	isolate(t)
	wantFail(t, 1, "No command provided to micro. Please refer to 'micro --help'")
	wantFail(t, 1, "Unrecognized micro command: nope. Please refer to 'micro --help'", "nope", "x")
	wantFail(t, 1, "Flag provided but not defined: -bogus. Please refer to 'micro --help'", "--bogus")
	wantFail(t, 1, "Unrecognized subcommand for micro store: nope. Please refer to 'micro store --help'", "store", "nope")
	wantFail(t, 1, "Unrecognized subcommand for micro env: nope. Please refer to 'micro env --help'", "env", "nope")
	wantFail(t, 1, "Flag provided but not defined: -x. Please refer to 'micro store read --help'", "store", "read", "k", "-x")
	wantFail(t, 1, "Expected one key. Please refer to 'micro store read --help'", "store", "read")
	wantFail(t, 1, "--order must be asc or desc, not \"up\". Please refer to 'micro store list --help'", "store", "list", "--order", "up")
}

func TestVersion(t *testing.T) {
	isolate(t)
	old := Version
	Version = "v9.9.9"
	t.Cleanup(func() { Version = old })
	for _, arg := range []string{"--version", "-v"} {
		if out := mustRun(t, arg); out != "micro version v9.9.9\n" {
			t.Errorf("micro %s = %q", arg, out)
		}
	}
}

func TestHelp(t *testing.T) {
	isolate(t)
	out := mustRun(t, "--help")
	// Commands are listed alphabetically.
	env, server, store := strings.Index(out, "  env "), strings.Index(out, "  server "), strings.Index(out, "  store ")
	if env < 0 || !(env < server && server < store) {
		t.Errorf("root help does not list env, server, store in order:\n%s", out)
	}
	out = mustRun(t, "store", "read", "-h")
	for _, want := range []string{"micro store read [flags] <key>", "-d, --database string", "-v, --verbose", `(default "micro")`} {
		if !strings.Contains(out, want) {
			t.Errorf("store read help lacks %q:\n%s", want, out)
		}
	}
	if got := mustRun(t, "help", "store", "read"); got != out {
		t.Errorf("micro help store read differs from micro store read -h:\n%s", got)
	}
	// Bare group commands print their help.
	if out := mustRun(t, "store"); !strings.Contains(out, "databases") {
		t.Errorf("micro store:\n%s", out)
	}
}

func TestInterspersed(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		pos     []string
		verbose bool
		db      string
	}{
		{[]string{"-v", "k"}, []string{"k"}, true, ""},
		{[]string{"k", "-v"}, []string{"k"}, true, ""},
		{[]string{"k", "--database", "db", "v1", "-v", "v2"}, []string{"k", "v1", "v2"}, true, "db"},
		{[]string{"n", "-1"}, []string{"n", "-1"}, false, ""},
		{[]string{"k", "-", "x"}, []string{"k", "-", "x"}, false, ""},
		{[]string{"k", "--", "-v", "--database"}, []string{"k", "-v", "--database"}, false, ""},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		verbose := fs.Bool("v", false, "")
		db := fs.String("database", "", "")
		// The first pass is what ffcli does; interspersed picks up after it.
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		pos, err := interspersed(fs, fs.Args())
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if !reflect.DeepEqual(pos, tc.pos) || *verbose != tc.verbose || *db != tc.db {
			t.Errorf("%q: args %q verbose %v db %q; want %q %v %q", tc.args, pos, *verbose, *db, tc.pos, tc.verbose, tc.db)
		}
	}
}

func TestExpirySeconds(t *testing.T) {
	for d, want := range map[time.Duration]int64{
		0:                       0,
		-time.Second:            0,
		time.Nanosecond:         1,
		500 * time.Millisecond:  1,
		time.Second:             1,
		1500 * time.Millisecond: 2,
		2 * time.Second:         2,
		90 * time.Minute:        5400,
	} {
		if got := expirySeconds(d); got != want {
			t.Errorf("expirySeconds(%v) = %d, want %d", d, got, want)
		}
	}
}

func TestHumanExpiry(t *testing.T) {
	for s, want := range map[int64]string{0: "None", -1: "None", 2: "2s", 90: "1m30s", 3600: "1h0m0s"} {
		if got := humanExpiry(s); got != want {
			t.Errorf("humanExpiry(%d) = %q, want %q", s, got, want)
		}
	}
}

func TestCapitalize(t *testing.T) {
	for in, want := range map[string]string{"not found": "Not found", "": "", "Already": "Already", "étoile": "Étoile", "--x": "--x"} {
		if got := capitalize(in); got != want {
			t.Errorf("capitalize(%q) = %q, want %q", in, got, want)
		}
	}
}

// stubNode replaces the real server with one that records its Config and
// returns err.
func stubNode(t *testing.T, err error) *node.Config {
	t.Helper()
	got := new(node.Config)
	old := runNode
	runNode = func(ctx context.Context, cfg node.Config) error {
		*got = cfg
		return err
	}
	t.Cleanup(func() { runNode = old })
	return got
}

func TestServerFlags(t *testing.T) {
	isolate(t)
	for _, k := range []string{"MICRO_DATA", "MICRO_GATEWAY_ADDRESS", "MICRO_PROXY_ADDRESS", "MICRO_DASHBOARD_ADDRESS", "MICRO_CONFIG", "MICRO_LOG_LEVEL", "MICRO_LOG_FORMAT", "MICRO_ADMIN_PASSWORD"} {
		t.Setenv(k, "")
	}
	cfg := stubNode(t, nil)

	mustRun(t, "server")
	if cfg.Data != "./micro.db" || cfg.GatewayAddress != ":8080" || cfg.ProxyAddress != ":8081" || cfg.DashboardAddress != ":8082" {
		t.Errorf("defaults: %+v", cfg)
	}
	if cfg.Version != Version || cfg.Logger == nil {
		t.Errorf("version %q logger %v", cfg.Version, cfg.Logger)
	}
	if !cfg.PaceGC {
		t.Error("micro server does not pace its garbage collector")
	}

	// Environment, then a config file; the command line wins over both.
	file := filepath.Join(t.TempDir(), "micro.conf")
	os.WriteFile(file, []byte("dashboard-address :9082\nproxy-address :9999\n"), 0o600)
	t.Setenv("MICRO_DATA", "/tmp/env.db")
	t.Setenv("MICRO_GATEWAY_ADDRESS", ":0")
	t.Setenv("MICRO_PROXY_ADDRESS", ":7081")
	mustRun(t, "server", "--config", file, "--gateway-address", ":1234")
	want := node.Config{Data: "/tmp/env.db", GatewayAddress: ":1234", ProxyAddress: ":7081", DashboardAddress: ":9082"}
	if cfg.Data != want.Data || cfg.GatewayAddress != want.GatewayAddress || cfg.ProxyAddress != want.ProxyAddress || cfg.DashboardAddress != want.DashboardAddress {
		t.Errorf("got %+v, want %+v", *cfg, want)
	}

	if cfg.AdminPassword != "" {
		t.Errorf("admin password %q without the flag", cfg.AdminPassword)
	}
	mustRun(t, "server", "--admin-password", "flag-pw")
	if cfg.AdminPassword != "flag-pw" {
		t.Errorf("--admin-password: %q", cfg.AdminPassword)
	}
	t.Setenv("MICRO_ADMIN_PASSWORD", "env-pw")
	mustRun(t, "server")
	if cfg.AdminPassword != "env-pw" {
		t.Errorf("MICRO_ADMIN_PASSWORD: %q", cfg.AdminPassword)
	}

	wantFail(t, 1, `--log-level must be debug, info, warn or error, not "loud". Please refer to 'micro server --help'`, "server", "--log-level", "loud")
	wantFail(t, 1, `--log-format must be text or json, not "xml". Please refer to 'micro server --help'`, "server", "--log-format", "xml")
}

func TestServerError(t *testing.T) {
	isolate(t)
	stubNode(t, errors.New("./micro.db is a directory\nnot a micro database"))
	wantFail(t, 1, "micro server: ./micro.db is a directory; not a micro database", "server")
}

func TestServerRuntimeFlags(t *testing.T) {
	isolate(t)
	for _, k := range []string{"MICRO_RUNTIME_NAMESPACES", "MICRO_RUNTIME_LOG_SIZE", "MICRO_RUNTIME_LOG_AGE", "MICRO_CONFIG"} {
		t.Setenv(k, "")
	}
	cfg := stubNode(t, nil)
	mustRun(t, "server")
	if cfg.RuntimeNamespaces != nil || cfg.RuntimeLogBytes != 4<<20 || cfg.RuntimeLogAge != 7*24*time.Hour {
		t.Errorf("defaults: namespaces %q, log size %d, age %s", cfg.RuntimeNamespaces, cfg.RuntimeLogBytes, cfg.RuntimeLogAge)
	}
	mustRun(t, "server", "--runtime-namespaces", "acme, dev", "--runtime-log-size", "512KiB", "--runtime-log-age", "36h")
	if strings.Join(cfg.RuntimeNamespaces, "|") != "acme|dev" || cfg.RuntimeLogBytes != 512<<10 || cfg.RuntimeLogAge != 36*time.Hour {
		t.Errorf("flags: namespaces %q, log size %d, age %s", cfg.RuntimeNamespaces, cfg.RuntimeLogBytes, cfg.RuntimeLogAge)
	}
	t.Setenv("MICRO_RUNTIME_NAMESPACES", "*")
	t.Setenv("MICRO_RUNTIME_LOG_SIZE", "2MB")
	mustRun(t, "server")
	if strings.Join(cfg.RuntimeNamespaces, "|") != "*" || cfg.RuntimeLogBytes != 2<<20 {
		t.Errorf("environment: namespaces %q, log size %d", cfg.RuntimeNamespaces, cfg.RuntimeLogBytes)
	}
	for _, bad := range []string{"lots", "-1MiB", "1.5MiB"} {
		if _, errOut, code := run(t, "server", "--runtime-log-size", bad); code == 0 || !strings.Contains(errOut, "want a size") {
			t.Errorf("--runtime-log-size %s: exit %d, %q", bad, code, errOut)
		}
	}
}
