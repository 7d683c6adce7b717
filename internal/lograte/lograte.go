// Package lograte bounds how many log lines one kind of event can write.
//
// A server's log must not grow with what its callers do: a client calling
// a missing service in a loop, or a disk that stays full, would otherwise
// write the same line thousands of times a second. The Handler passes the
// first Burst records of a kind per Interval and counts the rest; when the
// interval ends it writes one record saying how many similar lines it
// suppressed. A kind is a record's level and message, with the attributes
// and groups its logger was built with (logger.With), never the record's
// own attributes: those often carry what a caller chose (a service name, a
// path), and a flood of distinct values must not become distinct kinds.
// For the same reason digits in a message do not count ("TLS handshake
// error from 10.0.0.7:50412" is one kind whatever the address), and the
// kinds tracked at once are capped.
package lograte

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Defaults of Options' zero values: at most 11 lines per kind per minute
// (10 passed, then one summary), a few KB a minute for the worst flood.
const (
	DefaultBurst    = 10
	DefaultInterval = time.Minute
	// DefaultMaxKinds bounds the kinds tracked at once; beyond it, new
	// kinds share one budget per level.
	DefaultMaxKinds = 256
)

// Options tune a Handler; zero values mean the defaults.
type Options struct {
	// Burst is how many records of one kind pass per Interval.
	Burst int
	// Interval is the window the Burst applies to; at its end a summary of
	// what was suppressed is written.
	Interval time.Duration
	// MaxKinds bounds the memory the Handler keeps.
	MaxKinds int
}

// Handler wraps a slog.Handler with a per-kind rate limit. Handlers
// derived with WithAttrs and WithGroup share their parent's budget.
type Handler struct {
	next  slog.Handler
	scope string // attrs and groups of this handler, part of each kind
	l     *limiter
}

// New wraps next. Call Flush at shutdown to write pending summaries.
func New(next slog.Handler, o Options) *Handler {
	if o.Burst <= 0 {
		o.Burst = DefaultBurst
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.MaxKinds <= 0 {
		o.MaxKinds = DefaultMaxKinds
	}
	return &Handler{next: next, l: &limiter{o: o, kinds: map[string]*kind{}}}
}

type limiter struct {
	o     Options
	mu    sync.Mutex
	kinds map[string]*kind
}

// kind is one key's budget in the current interval.
type kind struct {
	start      time.Time
	passed     int
	suppressed int
	level      slog.Level
	msg        string
	next       slog.Handler // where the summary goes: the first record's handler
	timer      *time.Timer
}

// Enabled is the wrapped handler's.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle passes r on unless its kind used up its budget.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if !h.l.allow(h, r.Level, r.Message, time.Now()) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs returns a handler adding attrs, sharing h's budget.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	scope := h.scope
	for _, a := range attrs {
		scope += "\x00" + a.String()
	}
	return &Handler{next: h.next.WithAttrs(attrs), scope: scope, l: h.l}
}

// WithGroup returns a handler opening group name, sharing h's budget.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &Handler{next: h.next.WithGroup(name), scope: h.scope + "\x00group=" + name, l: h.l}
}

// Flush writes the summaries of every interval that suppressed records,
// now, and starts every kind afresh.
func (h *Handler) Flush() {
	h.l.mu.Lock()
	keys := make([]string, 0, len(h.l.kinds))
	for key, k := range h.l.kinds {
		if k.suppressed > 0 {
			keys = append(keys, key)
		}
	}
	h.l.mu.Unlock()
	for _, key := range keys {
		h.l.end(key)
	}
}

func (l *limiter) allow(h *Handler, level slog.Level, msg string, now time.Time) bool {
	key := level.String() + "\x00" + withoutDigits(msg) + h.scope
	l.mu.Lock()
	defer l.mu.Unlock()
	k := l.kinds[key]
	if k == nil {
		if len(l.kinds) >= l.o.MaxKinds {
			l.sweep(now)
		}
		if len(l.kinds) >= l.o.MaxKinds {
			// Too many kinds at once (messages built from input): new
			// ones share one budget per level.
			key, msg = level.String()+"\x00(too many kinds of log lines)", "(any)"
			k = l.kinds[key]
		}
	}
	if k == nil {
		k = &kind{level: level, msg: msg, next: h.next}
		l.kinds[key] = k
	}
	if k.suppressed == 0 && now.Sub(k.start) >= l.o.Interval {
		k.start, k.passed = now, 0
	}
	if k.passed < l.o.Burst {
		k.passed++
		return true
	}
	k.suppressed++
	if k.timer == nil {
		k.timer = time.AfterFunc(k.start.Add(l.o.Interval).Sub(now), func() { l.end(key) })
	}
	return false
}

// sweep forgets kinds whose interval is over and that suppressed nothing.
// The caller holds l.mu.
func (l *limiter) sweep(now time.Time) {
	for key, k := range l.kinds {
		if k.suppressed == 0 && now.Sub(k.start) >= l.o.Interval {
			delete(l.kinds, key)
		}
	}
}

// end closes the interval of key: it writes the summary of what it
// suppressed and forgets the kind, so its next record starts a new budget.
func (l *limiter) end(key string) {
	l.mu.Lock()
	k := l.kinds[key]
	if k == nil || k.suppressed == 0 {
		l.mu.Unlock()
		return
	}
	delete(l.kinds, key)
	if k.timer != nil {
		k.timer.Stop()
	}
	l.mu.Unlock()
	r := slog.NewRecord(time.Now(), k.level, fmt.Sprintf("suppressed %d similar lines", k.suppressed), 0)
	r.AddAttrs(slog.String("like", k.msg), slog.Int("suppressed", k.suppressed),
		slog.Duration("within", time.Since(k.start).Round(time.Second)))
	_ = k.next.Handle(context.Background(), r)
}

// withoutDigits is msg with each run of digits made one '#'.
func withoutDigits(msg string) string {
	if !strings.ContainsAny(msg, "0123456789") {
		return msg
	}
	var b strings.Builder
	digits := false
	for _, r := range msg {
		if r >= '0' && r <= '9' {
			if !digits {
				b.WriteByte('#')
			}
			digits = true
			continue
		}
		digits = false
		b.WriteRune(r)
	}
	return b.String()
}
