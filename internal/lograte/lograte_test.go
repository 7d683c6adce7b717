package lograte

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"micro.dev/micro/internal/testkit"
)

func newLogger(o Options) (*slog.Logger, *Handler, *testkit.LogBuffer) {
	buf := &testkit.LogBuffer{}
	h := New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelInfo}), o)
	return slog.New(h), h, buf
}

func count(lines []string, substr string) int {
	n := 0
	for _, l := range lines {
		if strings.Contains(l, substr) {
			n++
		}
	}
	return n
}

func TestBurstThenSummary(t *testing.T) {
	log, h, buf := newLogger(Options{Burst: 3, Interval: time.Hour})
	for i := range 1000 {
		log.Warn("call failed", "service", "svc", "i", i)
	}
	log.Info("other line")
	lines := buf.Lines()
	if n := count(lines, `msg="call failed"`); n != 3 {
		t.Fatalf("%d lines of the flooding kind passed, want the burst of 3:\n%s", n, strings.Join(lines, "\n"))
	}
	if count(lines, "other line") != 1 {
		t.Fatalf("another kind was held back by the flood:\n%s", strings.Join(lines, "\n"))
	}
	h.Flush()
	lines = buf.Lines()
	last := lines[len(lines)-1]
	for _, want := range []string{"level=WARN", `msg="suppressed 997 similar lines"`, `like="call failed"`, "suppressed=997"} {
		if !strings.Contains(last, want) {
			t.Fatalf("summary %q lacks %q", last, want)
		}
	}
	// The summary started a new interval: the kind passes again.
	log.Warn("call failed")
	if n := count(buf.Lines(), `msg="call failed"`); n != 4 {
		t.Fatalf("after the summary %d lines of the kind, want 4", n)
	}
	// Nothing suppressed since: Flush writes nothing.
	before := len(buf.Lines())
	h.Flush()
	if after := len(buf.Lines()); after != before {
		t.Fatalf("Flush with nothing suppressed wrote %d lines", after-before)
	}
}

func TestSummaryAtIntervalEnd(t *testing.T) {
	log, _, buf := newLogger(Options{Burst: 1, Interval: 20 * time.Millisecond})
	for range 50 {
		log.Error("disk full", "err", "no space left on device")
	}
	deadline := time.Now().Add(10 * time.Second)
	for count(buf.Lines(), "suppressed 49 similar lines") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no summary written after the interval:\n%s", strings.Join(buf.Lines(), "\n"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestKindsAndScope(t *testing.T) {
	log, _, buf := newLogger(Options{Burst: 2, Interval: time.Hour})
	a, b := log.With("block", "store"), log.With("block", "auth")
	for range 10 {
		a.Warn("write failed")
		b.Warn("write failed")
		log.Error("write failed") // another level: another kind
		log.WithGroup("g").Warn("write failed")
	}
	lines := buf.Lines()
	for _, want := range []string{"block=store", "block=auth", "level=ERROR"} {
		if n := count(lines, want); n != 2 {
			t.Fatalf("%d lines with %s, want 2:\n%s", n, want, strings.Join(lines, "\n"))
		}
	}
	if n := count(lines, "write failed"); n != 8 {
		t.Fatalf("%d lines passed, want 2 for each of 4 kinds:\n%s", n, strings.Join(lines, "\n"))
	}
	// Record attributes do not make kinds: a caller choosing them cannot
	// get past the limit.
	for i := range 100 {
		log.Warn("unknown service", "service", strings.Repeat("x", i))
	}
	if n := count(buf.Lines(), "unknown service"); n != 2 {
		t.Fatalf("%d lines with distinct attributes passed, want 2", n)
	}
	// Nor do numbers in a message (the standard library's log lines
	// carry addresses).
	for i := range 100 {
		log.Warn(fmt.Sprintf("http: TLS handshake error from 10.0.0.%d:%d: EOF", i, 40000+i))
	}
	if n := count(buf.Lines(), "TLS handshake error"); n != 2 {
		t.Fatalf("%d lines differing only in numbers passed, want 2", n)
	}
}

func TestTooManyKinds(t *testing.T) {
	log, h, buf := newLogger(Options{Burst: 1, Interval: time.Hour, MaxKinds: 10})
	for i := range 1000 {
		log.Warn("message built from input " + strings.Repeat("y", i))
	}
	if n := len(buf.Lines()); n > 11 {
		t.Fatalf("%d lines passed with 10 kinds of budget and a shared one", n)
	}
	h.Flush()
	if count(buf.Lines(), "suppressed 989 similar lines") != 1 {
		t.Fatalf("no summary for the shared budget:\n%s", strings.Join(buf.Lines(), "\n"))
	}
}

func TestLevelFilterIsTheWrappedHandlers(t *testing.T) {
	log, _, buf := newLogger(Options{})
	log.Debug("quiet")
	if len(buf.Lines()) != 0 {
		t.Fatal("a debug line passed an info handler")
	}
	if log.Enabled(t.Context(), slog.LevelDebug) {
		t.Fatal("Enabled(debug) is true on an info handler")
	}
}
