package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The CLI keeps its state in two files: config.json and the tokens file
// beside it, in ~/.micro by default. micro -c FILE (or MICRO_CONFIG_FILE)
// names config.json itself, as Micro's -c does; its tokens file is then
// FILE without ".json" plus "-tokens.json", Micro's name for it, so each
// config file carries its own logins.
const (
	configDirEnv   = "MICRO_CONFIG_DIR"
	configFileEnv  = "MICRO_CONFIG_FILE"
	configFileName = "config.json"
	tokensFileName = "tokens"
	// lockSuffix names the lock file of a state file, beside it.
	lockSuffix = ".lock"
)

// stateFiles are the paths of the CLI's two state files.
type stateFiles struct {
	config string // config.json
	tokens string // the tokens file
}

// stateFilesFor returns the state files: file (-c) or MICRO_CONFIG_FILE
// with the tokens file beside it, else config.json and tokens in
// configDir.
func stateFilesFor(file string, getenv func(string) string) (stateFiles, error) {
	if file == "" {
		file = getenv(configFileEnv)
	}
	if file != "" {
		return stateFiles{config: file, tokens: strings.TrimSuffix(file, ".json") + "-tokens.json"}, nil
	}
	dir, err := configDir(getenv)
	if err != nil {
		return stateFiles{}, err
	}
	return stateFiles{config: filepath.Join(dir, configFileName), tokens: filepath.Join(dir, tokensFileName)}, nil
}

// configDir returns the CLI's state directory: MICRO_CONFIG_DIR when set,
// else ~/.micro. It is not created here; writers create it.
func configDir(getenv func(string) string) (string, error) {
	if dir := getenv(configDirEnv); dir != "" {
		return dir, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("cannot find the home directory for ~/.micro (set %s): %w", configDirEnv, err)
	}
	return filepath.Join(home, ".micro"), nil
}

// Config is config.json in Micro's format: one JSON object addressed by
// dotted paths ("namespaces.local.current"). Keys micro does not know, such
// as those a Micro binary wrote, survive a rewrite untouched.
type Config struct {
	data map[string]any
}

// loadConfig reads the config file at path. A missing file is an empty
// config; a file that is not a JSON object is an error naming the file,
// because rewriting it would destroy what the user has there.
func loadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Config{data: map[string]any{}}, nil
	}
	if err != nil {
		return nil, err
	}
	c := &Config{data: map[string]any{}}
	if len(bytes.TrimSpace(b)) == 0 {
		return c, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // numbers come back exactly as written
	if err := dec.Decode(&c.data); err != nil {
		return nil, fmt.Errorf("%s is not valid JSON (fix or remove it): %w", path, err)
	}
	if c.data == nil {
		c.data = map[string]any{}
	}
	return c, nil
}

// updateConfig applies fn to the config file at path under its lock file,
// so concurrent micro commands never lose each other's changes, and
// replaces the file atomically, so a reader never sees half a file. A
// missing directory is created 0700 as it will hold credentials. Nothing is
// written if fn fails.
func updateConfig(path string, fn func(*Config) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	unlock, err := lockConfig(path + lockSuffix)
	if err != nil {
		return fmt.Errorf("lock %s: %w", path+lockSuffix, err)
	}
	defer unlock()
	c, err := loadConfig(path)
	if err != nil {
		return err
	}
	if err := fn(c); err != nil {
		return err
	}
	return c.save(path)
}

// save writes c to path through a temporary file and a rename.
func (c *Config) save(path string) error {
	b, err := json.MarshalIndent(c.data, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	// Sync before rename, or a crash could leave an empty config.json.
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Get returns the value at the dotted path, nil when absent.
func (c *Config) Get(path string) any {
	var cur any = c.data
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		if cur, ok = m[k]; !ok {
			return nil
		}
	}
	return cur
}

// String returns the value at the dotted path as a string; "" when absent.
// Non-string values are rendered as JSON, as Micro's config did.
func (c *Config) String(path string) string {
	switch v := c.Get(path).(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// Set stores v at the dotted path, creating objects along the way and
// replacing any non-object in the way.
func (c *Config) Set(path string, v any) {
	keys := strings.Split(path, ".")
	m := c.data
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[keys[len(keys)-1]] = v
}

// Delete removes the value at the dotted path, and objects it leaves empty.
func (c *Config) Delete(path string) {
	deletePath(c.data, strings.Split(path, "."))
}

func deletePath(m map[string]any, keys []string) {
	if len(keys) == 1 {
		delete(m, keys[0])
		return
	}
	next, ok := m[keys[0]].(map[string]any)
	if !ok {
		return
	}
	deletePath(next, keys[1:])
	if len(next) == 0 {
		delete(m, keys[0])
	}
}
