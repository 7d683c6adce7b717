package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// A config.json as Micro writes it: "envs" is a JSON string, namespaces
// and the current user are nested objects, and there are keys micro does
// not use.
const microConfig = `{
  "env": "prod",
  "envs": "{\"local\":{\"Name\":\"local\",\"ProxyAddress\":\"127.0.0.1:8081\",\"Description\":\"Local running Micro Server\"},\"prod\":{\"Name\":\"prod\",\"ProxyAddress\":\"proxy.example.com:443\",\"Description\":\"Production\"}}",
  "namespaces": {"prod": {"current": "acme", "all": "acme,beta"}},
  "prod": {"current-user": "alice"},
  "git": {"credentials": {"github": "tok"}},
  "count": 12345678901234567890
}`

func TestConfigReadsMicroFormat(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, configFileName), []byte(microConfig), 0o600)
	c, err := loadConfig(filepath.Join(dir, configFileName))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.CurrentEnv(); got != "prod" {
		t.Errorf("CurrentEnv = %q", got)
	}
	envs, err := c.Envs()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Env{
		"local": builtinEnvs["local"],
		"prod":  {Name: "prod", ProxyAddress: "proxy.example.com:443", Description: "Production"},
	}
	if !reflect.DeepEqual(envs, want) {
		t.Errorf("Envs = %+v", envs)
	}
	if got := c.Namespace("prod"); got != "acme" {
		t.Errorf("Namespace = %q", got)
	}
	if got := c.String("prod.current-user"); got != "alice" {
		t.Errorf("current-user = %q", got)
	}
	if got := c.String("git.credentials.github"); got != "tok" {
		t.Errorf("git.credentials.github = %q", got)
	}
}

func TestConfigRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	os.MkdirAll(dir, 0o700)
	os.WriteFile(filepath.Join(dir, configFileName), []byte(microConfig), 0o600)

	err := updateConfig(filepath.Join(dir, configFileName), func(c *Config) error {
		envs, err := c.Envs()
		if err != nil {
			return err
		}
		envs["dev"] = Env{Name: "dev", ProxyAddress: "10.0.0.1:8081", Description: "Dev box"}
		c.SetEnvs(envs)
		c.SetNamespace("dev", "team")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// On disk: still Micro's format, with "envs" a JSON-encoded string and
	// every key micro does not use kept, numbers exact.
	b, err := os.ReadFile(filepath.Join(dir, configFileName))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	var envsString string
	if err := json.Unmarshal(raw["envs"], &envsString); err != nil {
		t.Fatalf("envs is not a JSON string: %s", raw["envs"])
	}
	var envs map[string]map[string]string
	if err := json.Unmarshal([]byte(envsString), &envs); err != nil {
		t.Fatal(err)
	}
	if got := envs["dev"]; got["Name"] != "dev" || got["ProxyAddress"] != "10.0.0.1:8081" || got["Description"] != "Dev box" {
		t.Errorf("envs[dev] = %v", got)
	}
	if envs["prod"]["ProxyAddress"] != "proxy.example.com:443" {
		t.Errorf("envs[prod] lost: %v", envs)
	}
	for key, want := range map[string]string{
		"env":        `"prod"`,
		"namespaces": `{"dev":{"current":"team"},"prod":{"all":"acme,beta","current":"acme"}}`,
		"prod":       `{"current-user":"alice"}`,
		"git":        `{"credentials":{"github":"tok"}}`,
		"count":      `12345678901234567890`,
	} {
		var compact bytes.Buffer
		json.Compact(&compact, raw[key])
		if compact.String() != want {
			t.Errorf("%s = %s, want %s", key, compact.String(), want)
		}
	}

	// Read back.
	c, err := loadConfig(filepath.Join(dir, configFileName))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Namespace("dev"); got != "team" {
		t.Errorf("Namespace(dev) = %q", got)
	}

	fi, err := os.Stat(filepath.Join(dir, configFileName))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("config.json mode %v, want 0600", fi.Mode().Perm())
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
	if len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

func TestConfigMissingAndCreated(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", ".micro")
	c, err := loadConfig(filepath.Join(dir, configFileName))
	if err != nil {
		t.Fatal(err)
	}
	if c.CurrentEnv() != localEnv {
		t.Errorf("CurrentEnv of no config = %q", c.CurrentEnv())
	}
	if err := updateConfig(filepath.Join(dir, configFileName), func(c *Config) error { c.Set("env", "local"); return nil }); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v, want 0700", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(filepath.Join(dir, configFileName))
	if strings.TrimSpace(string(b)) != "{\n  \"env\": \"local\"\n}" {
		t.Errorf("config.json = %s", b)
	}
}

func TestConfigInvalidIsNotOverwritten(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, configFileName)
	os.WriteFile(path, []byte("{not json"), 0o600)
	err := updateConfig(filepath.Join(dir, configFileName), func(c *Config) error { c.Set("env", "x"); return nil })
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want one naming %s", err, path)
	}
	if b, _ := os.ReadFile(path); string(b) != "{not json" {
		t.Errorf("invalid config.json was rewritten: %s", b)
	}
}

func TestConfigPaths(t *testing.T) {
	c := &Config{data: map[string]any{}}
	c.Set("a.b.c", "x")
	c.Set("a.d", "y")
	if c.String("a.b.c") != "x" || c.String("a.d") != "y" || c.Get("a.b.c.d") != nil || c.String("nope") != "" {
		t.Fatalf("get after set: %v", c.data)
	}
	c.Delete("a.b.c")
	if _, ok := c.Get("a").(map[string]any)["b"]; ok {
		t.Errorf("empty parent not pruned: %v", c.data)
	}
	c.Set("a.d.e", "z") // replaces the string at a.d with an object
	if c.String("a.d.e") != "z" {
		t.Errorf("a.d.e = %q", c.String("a.d.e"))
	}
	c.Delete("a")
	if len(c.data) != 0 {
		t.Errorf("data after delete = %v", c.data)
	}
}

// Concurrent CLI runs each add an env; the lock and the atomic rename must
// keep every one of them.
func TestConfigConcurrentUpdates(t *testing.T) {
	dir := t.TempDir()
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			errs <- updateConfig(filepath.Join(dir, configFileName), func(c *Config) error {
				envs, err := c.Envs()
				if err != nil {
					return err
				}
				name := fmt.Sprintf("env%d", i)
				envs[name] = Env{Name: name, ProxyAddress: "127.0.0.1:1"}
				c.SetEnvs(envs)
				return nil
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	c, err := loadConfig(filepath.Join(dir, configFileName))
	if err != nil {
		t.Fatal(err)
	}
	envs, _ := c.Envs()
	if len(envs) != n+1 {
		t.Errorf("got %d envs, want %d: %v", len(envs), n+1, envs)
	}
}
