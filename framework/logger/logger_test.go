package logger_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"

	"micro.dev/micro/framework/logger"
)

type orderKey struct{}

// TestMain is the child of TestStderr when asked.
func TestMain(m *testing.M) {
	if os.Getenv("LOGGER_TEST_CHILD") == "1" {
		logger.Debug("hidden at info")
		logger.Info("charged", "order", 42)
		logger.Warn("low balance")
		// Micro's forms.
		logger.Infof("paid %d of %s", 7, "9")
		logger.Error(errors.New("card declined"))
		logger.Info("odd", "key")
		logger.Trace("tracing")
		if os.Getenv("LOGGER_TEST_FATAL") == "1" {
			logger.Fatal(errors.New("cannot start"))
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestStderr: a service's lines go to stderr (what micro logs keeps) with
// its name; MICRO_LOG_LEVEL filters them.
func TestStderr(t *testing.T) {
	for _, tc := range []struct{ level, want, not string }{
		{"", `level=INFO msg=charged service=billing order=42`, "hidden"},
		{"debug", `level=DEBUG msg="hidden at info" service=billing`, ""},
		{"warn", `level=WARN msg="low balance" service=billing`, "charged"},
		{"", `level=INFO msg="paid 7 of 9" service=billing`, "TRACE"},
		{"", `level=ERROR msg="card declined" service=billing`, "BADKEY"},
		{"", `level=INFO msg=oddkey service=billing`, ""},
		{"trace", `level=TRACE msg=tracing service=billing`, ""},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "LOGGER_TEST_CHILD=1", "MICRO_SERVICE_NAME=billing", "MICRO_LOG_LEVEL="+tc.level)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil || len(out) != 0 {
			t.Fatalf("child: %v, stdout %q", err, out)
		}
		if !strings.Contains(stderr.String(), tc.want) || (tc.not != "" && strings.Contains(stderr.String(), tc.not)) {
			t.Errorf("MICRO_LOG_LEVEL=%q: %s", tc.level, stderr.String())
		}
	}
}

// TestFatal: Micro's logger.Fatal(err) logs the error and exits 1.
func TestFatal(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LOGGER_TEST_CHILD=1", "LOGGER_TEST_FATAL=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(stderr.String(), `level=ERROR msg="cannot start"`) {
		t.Fatalf("Fatal: %v, stderr %s", err, stderr.String())
	}
}

// TestContextAttrs: the hooks' attributes go on lines logged with a
// context, and only there.
func TestContextAttrs(t *testing.T) {
	var buf strings.Builder
	logger.SetLogger(logger.New(&buf))
	defer logger.SetLogger(nil)
	logger.AddContextAttrs(func(ctx context.Context) []slog.Attr {
		if id, ok := ctx.Value(orderKey{}).(string); ok {
			return []slog.Attr{slog.String("trace_id", id)}
		}
		return nil
	})
	ctx := context.WithValue(context.Background(), orderKey{}, "4bf92f3577b34da6a3ce929d0e0e4736")
	logger.InfoContext(ctx, "with")
	logger.Info("without")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[0], "msg=with trace_id=4bf92f3577b34da6a3ce929d0e0e4736") ||
		strings.Contains(lines[1], "trace_id") {
		t.Fatalf("lines: %q", lines)
	}
	// Loggers from the package keep the hook when given attributes.
	logger.Logger().With("a", 1).InfoContext(ctx, "child")
	if !strings.Contains(buf.String(), "msg=child a=1 trace_id=") {
		t.Fatalf("With: %s", buf.String())
	}
}
