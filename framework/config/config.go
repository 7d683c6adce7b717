// Package config is the config block's client for services: a JSON tree per
// namespace, addressed by dotted paths, with secrets and live updates.
//
// Inside a service the package-level functions use the service's client
// (installed by service.New) and read the service's namespace; by
// convention a service's keys sit under its name.
//
//	v, err := config.Get("helloworld.greeting")  // a missing path is a null Value, not an error
//	greeting := v.String("Hello")
//	key, _ := config.Get("helloworld.apikey", config.Secret(true))
//
//	w, err := config.Watch("helloworld.greeting")
//	for {
//		v, err := w.Next() // the current value, then every change, in order
//		...
//	}
//
// NewConfig builds one over any client (tests, several servers, another
// namespace).
package config

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync/atomic"

	"micro.dev/micro/framework/client"
	"micro.dev/micro/framework/errors"
	pb "micro.dev/micro/proto/config"
)

const errID = "go.micro.config"

// Config is the config client.
type Config interface {
	// Get returns the value at path (the whole tree for ""). A missing
	// path, or a namespace with no config at all, is a null Value (its
	// Exists is false) and no error, as in Micro.
	Get(path string, opts ...Option) (Value, error)
	// Set stores val, JSON-encoded, at path; an object sets one leaf per
	// key, merging with what is there.
	Set(path string, val any, opts ...Option) error
	// Delete removes path and everything below it.
	Delete(path string, opts ...Option) error
	// Watch follows the value at path: see Watcher.
	Watch(path string) (*Watcher, error)
}

// Option configures one Get or Set.
type Option func(*Options)

// Options are the settings of one Get or Set.
type Options struct {
	// Secret on Set encrypts the value at rest; on Get it decrypts secret
	// values instead of masking them as "[secret]".
	Secret bool
}

// Secret sets Options.Secret.
func Secret(b bool) Option { return func(o *Options) { o.Secret = b } }

// ClientOption configures NewConfig.
type ClientOption func(*rpcConfig)

// Namespace makes the client read and write namespace ns instead of its
// client's namespace.
func Namespace(ns string) ClientOption { return func(c *rpcConfig) { c.ns = ns } }

// Logger sets where watchers report reconnections; default slog.Default().
func Logger(l *slog.Logger) ClientOption { return func(c *rpcConfig) { c.log = l } }

// WithContext makes Get, Set and Delete call with ctx, a handler's say, so
// they are part of its trace and end with it (as store.WithContext does).
// Watch is not bound to it: a watcher lives until Stop.
func WithContext(ctx context.Context) ClientOption { return func(c *rpcConfig) { c.ctx = ctx } }

type rpcConfig struct {
	c   client.Client
	ns  string
	log *slog.Logger
	ctx context.Context
}

// NewConfig returns a Config calling the config block through c, in c's
// namespace (client.NamespaceOf) unless Namespace says otherwise.
func NewConfig(c client.Client, opts ...ClientOption) Config {
	rc := &rpcConfig{c: c, ns: client.NamespaceOf(c)}
	for _, o := range opts {
		o(rc)
	}
	if rc.log == nil {
		rc.log = slog.Default()
	}
	if rc.ctx == nil {
		rc.ctx = context.Background()
	}
	return rc
}

func (c *rpcConfig) call(endpoint string, req, rsp any) error {
	return c.c.Call(c.ctx, c.c.NewRequest("config", endpoint, req), rsp)
}

func (c *rpcConfig) Get(path string, opts ...Option) (Value, error) {
	var o Options
	for _, opt := range opts {
		opt(&o)
	}
	rsp := new(pb.GetResponse)
	err := c.call("Config.Get", &pb.GetRequest{Namespace: c.ns, Path: path, Options: &pb.Options{Secret: o.Secret}}, rsp)
	if errors.Code(err) == 404 {
		return NewValue(nil), nil
	}
	if err != nil {
		return NewValue(nil), err // a null Value with the error, as Micro's
	}
	return NewValue([]byte(rsp.GetValue().GetData())), nil
}

func (c *rpcConfig) Set(path string, val any, opts ...Option) error {
	var o Options
	for _, opt := range opts {
		opt(&o)
	}
	b, err := json.Marshal(val)
	if err != nil {
		return errors.BadRequest(errID, "value for %s does not encode as JSON: %v", path, err)
	}
	req := &pb.SetRequest{Namespace: c.ns, Path: path, Value: &pb.Value{Data: string(b), Format: "json"},
		Options: &pb.Options{Secret: o.Secret}}
	return c.call("Config.Set", req, new(pb.SetResponse))
}

func (c *rpcConfig) Delete(path string, opts ...Option) error {
	return c.call("Config.Delete", &pb.DeleteRequest{Namespace: c.ns, Path: path}, new(pb.DeleteResponse))
}

// MarshalJSON writes the value's JSON text, so a Value can be Set again.
func (v JSONValue) MarshalJSON() ([]byte, error) { return []byte(v.JSON()), nil }

// UnmarshalJSON reads JSON text into the value.
func (v *JSONValue) UnmarshalJSON(b []byte) error {
	*v = *NewJSONValue(b)
	return nil
}

// override is the Config the package-level functions use instead of one
// over the default client, when set (SetDefault).
var override atomic.Pointer[Config]

// SetDefault makes the package-level functions use c; nil goes back to
// the service's client.
func SetDefault(c Config) {
	if c == nil {
		override.Store(nil)
		return
	}
	override.Store(&c)
}

// Default returns the Config the package-level functions use: the one
// given to SetDefault, else one over the service's client (client.Default).
func Default() (Config, error) {
	if c := override.Load(); c != nil {
		return *c, nil
	}
	c, err := client.DefaultOrError()
	if err != nil {
		return nil, err
	}
	return NewConfig(c), nil
}

// Get reads the service's config (see Config.Get).
func Get(path string, opts ...Option) (Value, error) {
	c, err := Default()
	if err != nil {
		return NewValue(nil), err
	}
	return c.Get(path, opts...)
}

// Set writes the service's config (see Config.Set).
func Set(path string, val any, opts ...Option) error {
	c, err := Default()
	if err != nil {
		return err
	}
	return c.Set(path, val, opts...)
}

// Delete deletes from the service's config (see Config.Delete).
func Delete(path string, opts ...Option) error {
	c, err := Default()
	if err != nil {
		return err
	}
	return c.Delete(path, opts...)
}

// Watch follows the value at path in the service's config (see Watcher).
func Watch(path string) (*Watcher, error) {
	c, err := Default()
	if err != nil {
		return nil, err
	}
	return c.Watch(path)
}
