// Package logger is structured logging for services, on log/slog:
//
//	logger.Info("charged", "order", id)
//	logger.ErrorContext(ctx, "charge failed", "order", id, "err", err)
//
// Lines go to stderr as slog's text (key=value), which the runtime keeps
// for `micro logs`, with the service's name (MICRO_SERVICE_NAME) on each.
// MICRO_LOG_LEVEL sets the level (debug, info, warn, error; default
// info). The *Context variants add what the context carries through
// AddContextAttrs hooks: tracing adds the trace id there.
package logger

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
)

var (
	std   atomic.Pointer[slog.Logger]
	hooks struct {
		mu  sync.RWMutex
		fns []func(context.Context) []slog.Attr
	}
)

func init() { std.Store(New(os.Stderr)) }

// New returns a logger writing text to w at MICRO_LOG_LEVEL, with the
// service's name and the context hooks.
func New(w io.Writer) *slog.Logger {
	return NewWithHandler(slog.NewTextHandler(w, &slog.HandlerOptions{Level: Level()}))
}

// NewWithHandler returns a logger on h (JSON, say) with the service's name
// and the context hooks.
func NewWithHandler(h slog.Handler) *slog.Logger {
	l := slog.New(contextHandler{h})
	if name := os.Getenv("MICRO_SERVICE_NAME"); name != "" {
		l = l.With("service", name)
	}
	return l
}

// Level is MICRO_LOG_LEVEL's level; info when it is unset or unknown.
func Level() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.TrimSpace(os.Getenv("MICRO_LOG_LEVEL")))); err != nil {
		return slog.LevelInfo
	}
	return l
}

// Logger is the package's logger, for code that takes a *slog.Logger
// (service.Logger(logger.Logger())).
func Logger() *slog.Logger { return std.Load() }

// SetLogger replaces the package's logger; nil restores the default.
func SetLogger(l *slog.Logger) {
	if l == nil {
		l = New(os.Stderr)
	}
	std.Store(l)
}

// AddContextAttrs adds a hook whose attributes go on every line logged
// with a context (the *Context functions, and loggers from New).
func AddContextAttrs(fn func(ctx context.Context) []slog.Attr) {
	hooks.mu.Lock()
	defer hooks.mu.Unlock()
	hooks.fns = append(hooks.fns, fn)
}

// Debug logs at debug level.
func Debug(msg string, args ...any) { std.Load().Debug(msg, args...) }

// Info logs at info level.
func Info(msg string, args ...any) { std.Load().Info(msg, args...) }

// Warn logs at warn level.
func Warn(msg string, args ...any) { std.Load().Warn(msg, args...) }

// Error logs at error level.
func Error(msg string, args ...any) { std.Load().Error(msg, args...) }

// Fatal logs at error level and exits with status 1, as Micro's did.
func Fatal(msg string, args ...any) {
	std.Load().Error(msg, args...)
	os.Exit(1)
}

// DebugContext logs at debug level with ctx's hook attributes.
func DebugContext(ctx context.Context, msg string, args ...any) {
	std.Load().DebugContext(ctx, msg, args...)
}

// InfoContext logs at info level with ctx's hook attributes.
func InfoContext(ctx context.Context, msg string, args ...any) {
	std.Load().InfoContext(ctx, msg, args...)
}

// WarnContext logs at warn level with ctx's hook attributes.
func WarnContext(ctx context.Context, msg string, args ...any) {
	std.Load().WarnContext(ctx, msg, args...)
}

// ErrorContext logs at error level with ctx's hook attributes.
func ErrorContext(ctx context.Context, msg string, args ...any) {
	std.Load().ErrorContext(ctx, msg, args...)
}

// contextHandler adds the hooks' attributes of a record's context.
type contextHandler struct{ slog.Handler }

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx != nil {
		hooks.mu.RLock()
		fns := hooks.fns
		hooks.mu.RUnlock()
		for _, fn := range fns {
			r.AddAttrs(fn(ctx)...)
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h contextHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return contextHandler{h.Handler.WithAttrs(as)}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{h.Handler.WithGroup(name)}
}
