// Package logger is structured logging for services, on log/slog:
//
//	logger.Info("charged", "order", id)
//	logger.ErrorContext(ctx, "charge failed", "order", id, "err", err)
//
// Lines go to stderr as slog's text (key=value), which the runtime keeps
// for `micro logs`, with the service's name (MICRO_SERVICE_NAME) on each.
// MICRO_LOG_LEVEL sets the level (trace, debug, info, warn, error;
// default info). Micro's forms build too: logger.Infof(format, v...),
// logger.Fatal(err). The *Context variants add what the context carries through
// AddContextAttrs hooks: tracing adds the trace id there.
package logger

import (
	"context"
	"fmt"
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
	return NewWithHandler(slog.NewTextHandler(w, &slog.HandlerOptions{Level: Level(), ReplaceAttr: traceName}))
}

// traceName prints LevelTrace as TRACE rather than slog's DEBUG-4.
func traceName(groups []string, a slog.Attr) slog.Attr {
	if a.Key == slog.LevelKey && len(groups) == 0 {
		if l, ok := a.Value.Any().(slog.Level); ok && l == LevelTrace {
			a.Value = slog.StringValue("TRACE")
		}
	}
	return a
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

// Level is MICRO_LOG_LEVEL's level (trace, debug, info, warn, error); info
// when it is unset or unknown.
func Level() slog.Level {
	v := strings.TrimSpace(os.Getenv("MICRO_LOG_LEVEL"))
	if strings.EqualFold(v, "trace") {
		return LevelTrace
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(v)); err != nil {
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

// LevelTrace is Micro's trace level, below debug (MICRO_LOG_LEVEL=trace).
const LevelTrace = slog.LevelDebug - 4

// The level functions take either slog's form, a message and then
// key-value pairs (logger.Info("charged", "order", id)), or Micro's, any
// values logged as their fmt.Sprint (logger.Fatal(err)), so a Micro
// service's logging builds unchanged. The first argument is the message
// when it is a string and the rest are pairs; otherwise the whole list is.

// Trace logs at trace level.
func Trace(args ...any) { logArgs(LevelTrace, args) }

// Debug logs at debug level.
func Debug(args ...any) { logArgs(slog.LevelDebug, args) }

// Info logs at info level.
func Info(args ...any) { logArgs(slog.LevelInfo, args) }

// Warn logs at warn level.
func Warn(args ...any) { logArgs(slog.LevelWarn, args) }

// Error logs at error level.
func Error(args ...any) { logArgs(slog.LevelError, args) }

// Fatal logs at error level and exits with status 1, as Micro's did.
func Fatal(args ...any) {
	logArgs(slog.LevelError, args)
	os.Exit(1)
}

// Tracef logs fmt.Sprintf(format, args...) at trace level.
func Tracef(format string, args ...any) { logf(LevelTrace, format, args) }

// Debugf logs fmt.Sprintf(format, args...) at debug level.
func Debugf(format string, args ...any) { logf(slog.LevelDebug, format, args) }

// Infof logs fmt.Sprintf(format, args...) at info level.
func Infof(format string, args ...any) { logf(slog.LevelInfo, format, args) }

// Warnf logs fmt.Sprintf(format, args...) at warn level.
func Warnf(format string, args ...any) { logf(slog.LevelWarn, format, args) }

// Errorf logs fmt.Sprintf(format, args...) at error level.
func Errorf(format string, args ...any) { logf(slog.LevelError, format, args) }

// Fatalf logs fmt.Sprintf(format, args...) at error level and exits with
// status 1.
func Fatalf(format string, args ...any) {
	logf(slog.LevelError, format, args)
	os.Exit(1)
}

func logArgs(level slog.Level, args []any) {
	l := std.Load()
	if !l.Enabled(context.Background(), level) {
		return
	}
	if len(args) > 0 {
		if msg, ok := args[0].(string); ok && isPairs(args[1:]) {
			l.Log(context.Background(), level, msg, args[1:]...)
			return
		}
	}
	l.Log(context.Background(), level, fmt.Sprint(args...))
}

func logf(level slog.Level, format string, args []any) {
	l := std.Load()
	if l.Enabled(context.Background(), level) {
		l.Log(context.Background(), level, fmt.Sprintf(format, args...))
	}
}

// isPairs reports whether kv reads as slog's attributes: string keys each
// followed by a value, or slog.Attr values.
func isPairs(kv []any) bool {
	for i := 0; i < len(kv); {
		switch kv[i].(type) {
		case slog.Attr:
			i++
		case string:
			if i+1 >= len(kv) {
				return false
			}
			i += 2
		default:
			return false
		}
	}
	return true
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
