package registry

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"micro.dev/micro/framework/auth"
	"micro.dev/micro/internal/testkit"
	"micro.dev/micro/schema"
)

// TestSweepRunsOnAFullDisk: expired nodes are deleted with the disk full
// (under --min-free-space), since that frees space. The nodes are written
// before the disk fills, as when it fills while services run.
func TestSweepRunsOnAFullDisk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "micro.db")
	clock := testkit.NewClock()
	open := func(minFree int64) *Registry {
		db, err := schema.Open(context.Background(), path, schema.Options{Migrations: []schema.Migrations{Migrations}, MinFreeSpace: minFree})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return New(db, auth.Namespaces, WithClock(clock.Now), WithSweepInterval(time.Hour))
	}
	r := open(0)
	ctx := t.Context()
	if _, err := r.backend.Register(ctx, Service{Domain: "micro", Name: "brief", Version: "1",
		Nodes: []Node{{ID: "b1", Address: "127.0.0.1:1", Expires: clock.Now().Add(time.Second)}}}); err != nil {
		t.Fatal(err)
	}
	r.backend.(*sqliteBackend).db.Close()

	r = open(1 << 62)
	if r.backend.(*sqliteBackend).db.Health() == nil {
		t.Skip("free space is not known on this system")
	}
	clock.Advance(time.Minute)
	if err := r.Sweep(ctx); err != nil {
		t.Fatalf("sweep with the disk full: %v", err)
	}
	var left int
	if err := r.backend.(*sqliteBackend).db.Read().QueryRowContext(ctx, `SELECT count(*) FROM registry_nodes`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d nodes left after the sweep (%v), want 0", left, err)
	}
}
