package service

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"micro.dev/micro/framework/client"
	"micro.dev/micro/framework/server"
)

// Defaults, as in Micro.
const (
	DefaultVersion          = "latest"
	DefaultAddress          = "127.0.0.1:0"
	DefaultRegisterTTL      = 90 * time.Second
	DefaultRegisterInterval = 30 * time.Second
	DefaultShutdownGrace    = 10 * time.Second
)

// Options are a service's settings. Environment variables, as the runtime
// sets them, override what the code says.
type Options struct {
	// Name is the service's name in the registry (MICRO_SERVICE_NAME).
	Name string
	// Version defaults to "latest" (MICRO_SERVICE_VERSION).
	Version string
	// Address is where the server listens, default 127.0.0.1:0
	// (MICRO_SERVICE_ADDRESS).
	Address string
	// Namespace is the registry domain and the namespace of outgoing calls,
	// default "micro" (MICRO_NAMESPACE).
	Namespace string
	// Metadata is the service's registry metadata.
	Metadata map[string]string
	// RegisterTTL is how long the registry keeps the node without a
	// heartbeat (MICRO_REGISTER_TTL); RegisterInterval how often it
	// re-registers (MICRO_REGISTER_INTERVAL). Both take seconds or a Go
	// duration.
	RegisterTTL, RegisterInterval time.Duration
	// Proxy is the micro proxy calls and registration go through
	// (MICRO_PROXY, else MICRO_SERVICE_NETWORK; default 127.0.0.1:8081).
	Proxy string
	// ID and Secret are the service's credentials (MICRO_AUTH_ID and
	// MICRO_AUTH_SECRET, or MICRO_CLIENT_ID and MICRO_CLIENT_SECRET).
	ID, Secret string
	// Trace records a span of every call served and made, sent to the
	// server's trace block (MICRO_TRACE=1, which the server's runtime sets
	// when it traces). Off, the service does no tracing work.
	Trace bool
	// HandleSignal makes Run stop on SIGTERM, SIGINT and SIGQUIT (default).
	HandleSignal bool
	// ShutdownGrace is how long calls in flight get to finish at Stop.
	ShutdownGrace time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger

	BeforeStart, AfterStart, BeforeStop, AfterStop []func() error

	// Middleware, Micro's (see WrapHandler and the others in micro.go).
	HandlerWrappers    []server.HandlerWrapper
	SubscriberWrappers []server.SubscriberWrapper
	ClientWrappers     []client.Wrapper
	CallWrappers       []client.CallWrapper
}

// Option sets an option.
type Option func(*Options)

// Name sets the service's name.
func Name(n string) Option { return func(o *Options) { o.Name = n } }

// Version sets the service's version.
func Version(v string) Option { return func(o *Options) { o.Version = v } }

// Address sets where the server listens ("127.0.0.1:0" picks a port).
func Address(a string) Option { return func(o *Options) { o.Address = a } }

// Namespace sets the service's namespace.
func Namespace(ns string) Option { return func(o *Options) { o.Namespace = ns } }

// Metadata sets the service's registry metadata.
func Metadata(md map[string]string) Option { return func(o *Options) { o.Metadata = md } }

// RegisterTTL sets how long the registry keeps the node between heartbeats.
func RegisterTTL(d time.Duration) Option { return func(o *Options) { o.RegisterTTL = d } }

// RegisterInterval sets how often the service re-registers.
func RegisterInterval(d time.Duration) Option { return func(o *Options) { o.RegisterInterval = d } }

// Proxy sets the proxy address.
func Proxy(addr string) Option { return func(o *Options) { o.Proxy = addr } }

// Credentials sets the service's account id and secret.
func Credentials(id, secret string) Option {
	return func(o *Options) { o.ID, o.Secret = id, secret }
}

// Tracing sets whether the service records spans (Options.Trace).
func Tracing(on bool) Option { return func(o *Options) { o.Trace = on } }

// HandleSignal sets whether Run stops on SIGTERM, SIGINT and SIGQUIT.
func HandleSignal(b bool) Option { return func(o *Options) { o.HandleSignal = b } }

// ShutdownGrace sets how long calls in flight get to finish at Stop.
func ShutdownGrace(d time.Duration) Option { return func(o *Options) { o.ShutdownGrace = d } }

// Logger sets the service's logger.
func Logger(l *slog.Logger) Option { return func(o *Options) { o.Logger = l } }

// BeforeStart adds a function run before the server starts.
func BeforeStart(fn func() error) Option {
	return func(o *Options) { o.BeforeStart = append(o.BeforeStart, fn) }
}

// AfterStart adds a function run once the service is registered.
func AfterStart(fn func() error) Option {
	return func(o *Options) { o.AfterStart = append(o.AfterStart, fn) }
}

// BeforeStop adds a function run before the service deregisters.
func BeforeStop(fn func() error) Option {
	return func(o *Options) { o.BeforeStop = append(o.BeforeStop, fn) }
}

// AfterStop adds a function run once the server has stopped.
func AfterStop(fn func() error) Option {
	return func(o *Options) { o.AfterStop = append(o.AfterStop, fn) }
}

// fromEnv overrides o with the MICRO_* variables getenv returns.
func (o *Options) fromEnv(getenv func(string) string) error {
	set := func(dst *string, keys ...string) {
		for _, k := range keys {
			if v := strings.TrimSpace(getenv(k)); v != "" {
				*dst = v
				return
			}
		}
	}
	set(&o.Name, "MICRO_SERVICE_NAME")
	set(&o.Version, "MICRO_SERVICE_VERSION")
	set(&o.Address, "MICRO_SERVICE_ADDRESS")
	set(&o.Namespace, "MICRO_NAMESPACE")
	set(&o.Proxy, "MICRO_PROXY", "MICRO_SERVICE_NETWORK")
	set(&o.ID, "MICRO_AUTH_ID", "MICRO_CLIENT_ID")
	set(&o.Secret, "MICRO_AUTH_SECRET", "MICRO_CLIENT_SECRET")
	if v := strings.TrimSpace(getenv("MICRO_TRACE")); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("MICRO_TRACE=%q: give true or false", v)
		}
		o.Trace = on
	}
	for key, dst := range map[string]*time.Duration{"MICRO_REGISTER_TTL": &o.RegisterTTL, "MICRO_REGISTER_INTERVAL": &o.RegisterInterval} {
		if v := strings.TrimSpace(getenv(key)); v != "" {
			d, err := parseSeconds(v)
			if err != nil {
				return err
			}
			*dst = d
		}
	}
	return nil
}

// parseSeconds reads a duration given as whole seconds ("30") or in Go's
// syntax ("500ms").
func parseSeconds(v string) (time.Duration, error) {
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, errInvalidDuration(v)
	}
	return d, nil
}

type errInvalidDuration string

func (e errInvalidDuration) Error() string {
	return "invalid duration " + strconv.Quote(string(e)) + ": give seconds (30) or a Go duration (500ms)"
}

func newOptions(opts []Option) (Options, error) {
	o := Options{HandleSignal: true}
	for _, opt := range opts {
		opt(&o)
	}
	err := o.fromEnv(os.Getenv)
	if o.Version == "" {
		o.Version = DefaultVersion
	}
	if o.Address == "" {
		o.Address = DefaultAddress
	}
	if o.RegisterTTL <= 0 {
		o.RegisterTTL = DefaultRegisterTTL
	}
	if o.RegisterTTL < time.Second {
		o.RegisterTTL = time.Second // the registry counts whole seconds
	}
	if o.RegisterInterval <= 0 {
		o.RegisterInterval = min(DefaultRegisterInterval, o.RegisterTTL/3)
	}
	if o.ShutdownGrace <= 0 {
		o.ShutdownGrace = DefaultShutdownGrace
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, err
}
