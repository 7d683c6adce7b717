package cli

import (
	"encoding/json"
	"fmt"

	microclient "micro.dev/micro/framework/client"
	"micro.dev/micro/framework/metadata"
)

// Env is a micro server the CLI can talk to. It is stored in config.json
// under "envs" as Micro stores it, so the field names carry no JSON tags.
type Env struct {
	Name         string
	ProxyAddress string
	Description  string
	// CA is PEM of the certificate authorities trusted for this env's
	// proxy instead of the system's roots (env add --ca, which reads the
	// file once, so the env does not break when the file moves).
	CA string `json:",omitempty"`
	// Insecure uses TLS without checking the proxy's certificate (env add
	// --insecure).
	Insecure bool `json:",omitempty"`
}

// localEnv is the built-in env every CLI has: a server on this machine.
const localEnv = "local"

// builtinEnvs exist whether or not config.json mentions them.
var builtinEnvs = map[string]Env{
	localEnv: {Name: localEnv, ProxyAddress: "127.0.0.1:8081", Description: "Local running Micro Server"},
}

// Envs returns every env: the built-ins overlaid by those in config.json.
// Micro keeps "envs" as a JSON-encoded string; an object is accepted too, in
// case someone edited the file by hand.
func (c *Config) Envs() (map[string]Env, error) {
	envs := make(map[string]Env, len(builtinEnvs))
	for name, e := range builtinEnvs {
		envs[name] = e
	}
	var stored map[string]Env
	switch v := c.Get("envs").(type) {
	case nil:
	case string:
		if v != "" {
			if err := json.Unmarshal([]byte(v), &stored); err != nil {
				return nil, fmt.Errorf("config.json: \"envs\" is not a JSON map of environments: %w", err)
			}
		}
	default:
		b, _ := json.Marshal(v)
		if err := json.Unmarshal(b, &stored); err != nil {
			return nil, fmt.Errorf("config.json: \"envs\" is not a map of environments: %w", err)
		}
	}
	for name, e := range stored {
		if e.Name == "" {
			e.Name = name
		}
		envs[name] = e
	}
	return envs, nil
}

// SetEnvs stores envs under "envs" as a JSON-encoded string, Micro's format.
func (c *Config) SetEnvs(envs map[string]Env) {
	b, _ := json.Marshal(envs) // a map of plain strings always encodes
	c.Set("envs", string(b))
}

// CurrentEnv is the env config.json selects, "local" when none.
func (c *Config) CurrentEnv() string {
	if name := c.String("env"); name != "" {
		return name
	}
	return localEnv
}

// Namespace is the current namespace stored for env, "" when none.
func (c *Config) Namespace(env string) string {
	return c.String("namespaces." + env + ".current")
}

// SetNamespace makes ns the current namespace of env.
func (c *Config) SetNamespace(env, ns string) {
	c.Set("namespaces."+env+".current", ns)
}

// forgetEnv removes what config.json holds for env besides its entry in
// "envs": its namespaces and its current user.
func (c *Config) forgetEnv(env string) {
	c.Delete("namespaces." + env)
	c.Delete(env + ".current-user")
}

// target is the server a command talks to and the namespace it acts in.
type target struct {
	Env       Env
	Namespace string
	// Address is the proxy's address: --proxy_address or MICRO_PROXY when
	// given, else the env's.
	Address string
	// Security is how the proxy's certificate is checked: the env's CA
	// and --insecure for the env's own address, overridden by
	// MICRO_PROXY_CA and MICRO_PROXY_INSECURE.
	Security microclient.Security
}

// envName is the env selected by --env or MICRO_ENV, else config.json's.
func (a *app) envName(c *Config) string {
	if a.flags.env != "" {
		return a.flags.env
	}
	if e := a.getenv("MICRO_ENV"); e != "" {
		return e
	}
	return c.CurrentEnv()
}

// files are the CLI's state files: -c/--config or MICRO_CONFIG_FILE, else
// those in ~/.micro (or MICRO_CONFIG_DIR).
func (a *app) files() (stateFiles, error) {
	return stateFilesFor(a.flags.configFile, a.getenv)
}

// config reads the CLI's config file.
func (a *app) config() (*Config, error) {
	files, err := a.files()
	if err != nil {
		return nil, err
	}
	return loadConfig(files.config)
}

// updateConfig changes the CLI's config file.
func (a *app) updateConfig(fn func(*Config) error) error {
	files, err := a.files()
	if err != nil {
		return err
	}
	return updateConfig(files.config, fn)
}

// target resolves where and as what namespace a command runs: env by
// --env/MICRO_ENV/config.json, namespace by --namespace/MICRO_NAMESPACE/the
// env's current namespace/"micro", address by --proxy_address/MICRO_PROXY/the
// env's proxy address.
func (a *app) target() (*target, error) {
	c, err := a.config()
	if err != nil {
		return nil, err
	}
	return a.targetIn(c, a.envName(c))
}

// targetIn resolves the target of the env called name in c. The command
// line's and the environment's overrides apply only to the env the command
// runs in; any other env is as c stores it.
func (a *app) targetIn(c *Config, name string) (*target, error) {
	envs, err := c.Envs()
	if err != nil {
		return nil, err
	}
	env, ok := envs[name]
	if !ok {
		return nil, exitf(exitFailure, "Environment '%s' does not exist", name)
	}
	selected := name == a.envName(c)
	t := &target{Env: env}
	if selected {
		t.Namespace, t.Address = a.flags.namespace, a.flags.proxyAddress
		if t.Namespace == "" {
			t.Namespace = a.getenv("MICRO_NAMESPACE")
		}
		if t.Address == "" {
			t.Address = a.getenv("MICRO_PROXY")
		}
	}
	if t.Namespace == "" {
		t.Namespace = c.Namespace(name)
	}
	if t.Namespace == "" {
		t.Namespace = metadata.DefaultNamespace
	}
	if t.Address == "" {
		t.Address = env.ProxyAddress
		t.Security.Insecure = env.Insecure
		if env.CA != "" {
			t.Security.CA = []byte(env.CA)
		}
	}
	if t.Address == "" {
		return nil, exitf(exitFailure, "Environment '%s' has no proxy address; set one with 'micro env add %s host:port'", name, name)
	}
	if !selected {
		return t, nil
	}
	sec, err := microclient.SecurityFromEnv(a.getenv)
	if err != nil {
		return nil, exitf(exitFailure, "%v", err)
	}
	if sec.CA != nil {
		t.Security.CA = sec.CA
	}
	if a.getenv(microclient.EnvProxyInsecure) != "" {
		t.Security.Insecure = sec.Insecure
	}
	return t, nil
}
