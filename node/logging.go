package node

import (
	"log/slog"

	"micro.dev/micro/internal/lograte"
)

// rateLimited wraps the configured logger so that no kind of line can
// flood it: whatever callers do (a loop calling a missing service, a disk
// that stays full), each kind of line is written at most a few times a
// minute, then summed up in one "suppressed N similar lines" record. flush
// writes the pending summaries; the node calls it last at shutdown.
func rateLimited(log *slog.Logger) (limited *slog.Logger, flush func()) {
	if h, ok := log.Handler().(*lograte.Handler); ok {
		return log, h.Flush // already limited (a caller wrapped it)
	}
	h := lograte.New(log.Handler(), lograte.Options{})
	return slog.New(h), h.Flush
}
