package schema

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

func write(db *DB, ctx context.Context, query string, args ...any) error {
	return db.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, query, args...)
		return err
	})
}

// TestFullDatabase: at the size cap a write fails with ErrDiskFull, Health
// says so, a delete still runs and clears it, and Close is clean.
func TestFullDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "micro.db")
	db, err := Open(context.Background(), path, Options{Migrations: testMigrations, MaxSize: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	big := strings.Repeat("x", 16<<10)
	var full error
	for i := 0; i < 100 && full == nil; i++ {
		full = write(db, ctx, `INSERT INTO kv (k, v) VALUES (?, ?)`, fmt.Sprint(i), big)
	}
	if !errors.Is(full, ErrDiskFull) {
		t.Fatalf("writing past the cap: %v", full)
	}
	if err := db.Health(); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("health when full: %v", err)
	}
	if err := write(db, ctx, `DELETE FROM kv WHERE k IN ('0', '1', '2')`); err != nil {
		t.Fatalf("delete when full: %v", err)
	}
	if err := db.Health(); err != nil {
		t.Fatalf("health after a delete: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("close when nearly full: %v", err)
	}
}

// TestMinFreeSpace: under the minimum, writes are refused before SQLite
// runs them, and writes marked Freeing still run.
func TestMinFreeSpace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "micro.db")
	// More than any disk has: always under the minimum.
	db, err := Open(context.Background(), path, Options{Migrations: testMigrations, MinFreeSpace: 1 << 62})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, ok := freeSpace(filepath.Dir(path)); !ok {
		t.Skip("free space is not known on this system")
	}
	ctx := context.Background()
	err = write(db, ctx, `INSERT INTO kv (k, v) VALUES ('a', 'b')`)
	if !errors.Is(err, ErrDiskFull) || !strings.Contains(err.Error(), "--min-free-space") {
		t.Fatalf("write under the minimum: %v", err)
	}
	if err := db.Health(); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("health under the minimum: %v", err)
	}
	if err := write(db, Freeing(ctx), `DELETE FROM kv`); err != nil {
		t.Fatalf("a freeing write under the minimum: %v", err)
	}
}

// TestRoom: what fits beside the database is told from free space less
// the minimum kept free.
func TestRoom(t *testing.T) {
	path := filepath.Join(t.TempDir(), "micro.db")
	db, err := Open(context.Background(), path, Options{Migrations: testMigrations, MinFreeSpace: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	free, ok := freeSpace(filepath.Dir(path))
	if !ok {
		t.Skip("free space is not known on this system")
	}
	if err := db.Room(1); err != nil {
		t.Fatalf("one byte: %v", err)
	}
	err = db.Room(free) // fits the disk, not with the megabyte kept free
	if !errors.Is(err, ErrDiskFull) || !strings.Contains(err.Error(), "--min-free-space") {
		t.Fatalf("all the free space: %v", err)
	}
}
