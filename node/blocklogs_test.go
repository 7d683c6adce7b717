package node

import (
	"context"
	"database/sql"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"micro.dev/micro/framework/errors"
	"micro.dev/micro/internal/testkit"
)

// TestBlocksLogToTheNodeLogger: every block that logs does so through the
// node's logger (JSON here, as with --log-format json), none through
// slog's default. Auth logs its first start; the others log a failure of
// their tables, which are renamed away under them.
func TestBlocksLogToTheNodeLogger(t *testing.T) {
	var jsonLogs, defaultLogs testkit.LogBuffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&defaultLogs, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })

	n, err := Start(context.Background(), Config{Data: filepath.Join(t.TempDir(), "micro.db"),
		GatewayAddress: "127.0.0.1:0", ProxyAddress: "127.0.0.1:0",
		Logger: slog.New(slog.NewJSONHandler(&jsonLogs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	w := newWalker(t, n)
	w.methods(n)
	token := w.login("micro", "admin", "micro")

	err = n.db.Write(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
		for _, table := range []string{"store_records", "config_values", "events_topics", "events_events",
			"registry_services", "registry_nodes", "runtime_services"} {
			if _, err := tx.ExecContext(ctx, "ALTER TABLE "+table+" RENAME TO "+table+"_gone"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for method, req := range map[string]string{
		"/store.Store/Read":               `{"key":"a"}`,
		"/config.Config/Get":              `{"path":"a"}`,
		"/events.Stream/Publish":          `{"topic":"t","payload":"e30="}`,
		"/registry.Registry/ListServices": `{}`,
		"/runtime.Runtime/Read":           `{}`,
	} {
		if err := w.callErr(method, req, token); errors.Code(err) != 500 {
			t.Errorf("%s without its tables: %v, want a 500", method, err)
		}
	}

	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(jsonLogs.String()), "\n") {
		var rec struct{ Msg string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not a JSON log line: %q", line)
		}
		block, _, _ := strings.Cut(rec.Msg, ":")
		seen[block] = true
	}
	for _, block := range []string{"auth", "store", "config", "events", "registry", "runtime"} {
		if !seen[block] {
			t.Errorf("no JSON log from %s in:\n%s", block, jsonLogs.String())
		}
	}
	if s := defaultLogs.String(); s != "" {
		t.Errorf("logged through slog's default logger:\n%s", s)
	}
}
