package cluster

import (
	"context"
	"fmt"
	"log/slog"
)

// logger routes the NATS server's log into the node's. Its notices (the
// banner, routes coming and going) are debug here: a node's log says what
// the operator must know, and the node logs joining itself. Warnings and
// errors stay what they are; the node's rate limiter bounds repeats.
// Tracing is never enabled (SetLoggerV2 with trace off).
type logger struct{ log *slog.Logger }

func (l *logger) Noticef(format string, v ...any) { l.at(slog.LevelDebug, format, v) }
func (l *logger) Warnf(format string, v ...any)   { l.at(slog.LevelWarn, format, v) }
func (l *logger) Errorf(format string, v ...any)  { l.at(slog.LevelError, format, v) }
func (l *logger) Debugf(format string, v ...any)  { l.at(slog.LevelDebug, format, v) }
func (l *logger) Tracef(format string, v ...any)  {}

// Fatalf is an error the server cannot go on from; it does not exit the
// process (the node sees the server stop and says so).
func (l *logger) Fatalf(format string, v ...any) { l.at(slog.LevelError, format, v) }

func (l *logger) at(level slog.Level, format string, v []any) {
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	l.log.Log(context.Background(), level, "nats: "+fmt.Sprintf(format, v...))
}
