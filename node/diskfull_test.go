package node

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"micro.dev/micro/framework/errors"
)

// TestDeletesRunWhenTheDiskIsFull: under --min-free-space (here more than
// any disk has) writes are refused with a 507, and every block's delete
// still runs, since a delete is how an operator makes room; so do the
// blocks' background sweeps.
func TestDeletesRunWhenTheDiskIsFull(t *testing.T) {
	cfg := Config{Data: filepath.Join(t.TempDir(), "micro.db"), GatewayAddress: "127.0.0.1:0",
		ProxyAddress: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)}
	n, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := newWalker(t, n)
	token := w.login("micro", "admin", "micro")
	var rsp map[string]any
	w.generate(token, "micro", "bob", nil)
	w.call(token, "micro", "/registry.Registry/Register", map[string]any{"name": "greeter", "version": "1",
		"nodes": []map[string]any{{"id": "g1", "address": "127.0.0.1:1"}}}, &rsp)
	// An event, so the events sweep has a topic to sweep.
	w.call(token, "micro", "/events.Stream/Publish", map[string]any{"topic": "t", "payload": "e30="}, &rsp)
	var lease struct{ ID string }
	w.call(token, "micro", "/sync.Sync/Acquire", map[string]any{"name": "job", "ttl_ms": 60000, "holder": "me"}, &lease)
	w.call(token, "micro", "/store.Store/Write", map[string]any{"record": map[string]any{"key": "k", "value": "dg=="}}, &rsp)
	w.call(token, "micro", "/config.Config/Set", map[string]any{"path": "a", "value": map[string]any{"data": `"b"`}}, &rsp)
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module idle\n\ngo 1.21\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte("package main\n\nimport \"time\"\n\nfunc main() { time.Sleep(time.Hour) }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w.call(token, "micro", "/runtime.Runtime/Create", map[string]any{"resource": map[string]any{"service": map[string]any{
		"name": "idle", "source": src}}}, &rsp)
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	cfg.MinFreeSpace = 1 << 62
	if n, err = Start(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if err := n.db.Health(); err == nil {
		t.Skip("free space is not known on this system")
	}
	// Logging in stores a refresh token, refused too: the token from
	// before the restart still holds.
	w = newWalker(t, n)
	if err := w.callErrIn("micro", "/store.Store/Write", `{"record":{"key":"more","value":"dg=="}}`, token); errors.Code(err) != 507 {
		t.Fatalf("a write with the disk full: %v, want 507", err)
	}
	for _, c := range []struct{ method, req string }{
		{"/store.Store/Delete", `{"key":"k"}`},
		{"/config.Config/Delete", `{"path":"a"}`},
		{"/auth.Accounts/Delete", `{"id":"bob"}`},
		{"/registry.Registry/Deregister", `{"name":"greeter","version":"1","nodes":[{"id":"g1"}]}`},
		{"/sync.Sync/Release", `{"name":"job","id":"` + lease.ID + `"}`},
		{"/runtime.Runtime/Delete", `{"resource":{"service":{"name":"idle"}}}`},
	} {
		if err := w.callErrIn("micro", c.method, c.req, token); err != nil {
			t.Errorf("%s with the disk full: %v", c.method, err)
		}
	}
	// The background clean-ups are deletes too: they run on a full disk.
	ctx := context.Background()
	if _, err := n.auth.Sweep(ctx); err != nil {
		t.Errorf("refresh-token sweep with the disk full: %v", err)
	}
	// (The registry's expiry sweep, whose nodes a start forgets:
	// registry's TestSweepRunsOnAFullDisk; the runtime's log trimming:
	// TestLogsAreTrimmedOnAFullDisk.)
	swept := false
	for _, b := range n.blocks {
		if ev, ok := b.block.(interface {
			Sweep(context.Context) (int64, error)
		}); ok && b.name == "events" {
			swept = true
			if _, err := ev.Sweep(ctx); err != nil {
				t.Errorf("events retention sweep with the disk full: %v", err)
			}
		}
	}
	if !swept {
		t.Error("no events block with a Sweep")
	}
}
