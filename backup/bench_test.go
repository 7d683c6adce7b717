package backup_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"micro.dev/micro/backup"
	"micro.dev/micro/schema"
)

// benchDB builds a database of about MICRO_BENCH_BACKUP_MB megabytes
// (default 20; the figure in docs/design.md is for 200): rows of 1 KiB,
// half random hex, half repeated, so it compresses about as real data does.
func benchDB(b *testing.B) *schema.DB {
	b.Helper()
	mb := 20
	if v := os.Getenv("MICRO_BENCH_BACKUP_MB"); v != "" {
		var err error
		if mb, err = strconv.Atoi(v); err != nil || mb <= 0 {
			b.Fatalf("MICRO_BENCH_BACKUP_MB=%q: give a number of megabytes", v)
		}
	}
	db, err := schema.Open(context.Background(), filepath.Join(b.TempDir(), "micro.db"), schema.Options{Migrations: kvMigrations})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	const rowsPerTx = 1000
	rows := (mb << 10) * 3 / 4 // a 1 KiB row takes about 1.3 KiB of file
	for start := 0; start < rows; start += rowsPerTx {
		err := db.Write(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
			for i := start; i < min(start+rowsPerTx, rows); i++ {
				if _, err := tx.ExecContext(ctx, `INSERT INTO kv (k, v) VALUES (?, ?)`, fmt.Sprintf("row-%08d", i), benchValue(1024)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return db
}

func benchValue(n int) string {
	random := make([]byte, n/4)
	rand.Read(random)
	v := hex.EncodeToString(random)
	for len(v) < n {
		v += "x"
	}
	return v
}

// benchWrite is one writer's write: an upsert of a small record, as a
// store write is.
func benchWrite(db *schema.DB, key int) error {
	return db.Write(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v`,
			"w-"+strconv.Itoa(key%10000), "a value of about the size of a small record, sixty-four bytes")
		return err
	})
}

// slowest keeps the longest write seen.
type slowest struct{ ns atomic.Int64 }

func (s *slowest) write(db *schema.DB, key int) error {
	start := time.Now()
	err := benchWrite(db, key)
	d := int64(time.Since(start))
	for {
		cur := s.ns.Load()
		if d <= cur || s.ns.CompareAndSwap(cur, d) {
			return err
		}
	}
}

func (s *slowest) report(b *testing.B) {
	b.ReportMetric(float64(s.ns.Load())/1e6, "max-write-ms")
}

// BenchmarkBackup: the time of one scheduled backup (snapshot, integrity
// check, gzip, put in a directory) with and without writers running, and
// the writers' time per write with and without a backup running. The
// pairs' ratios (make bench) say what a backup costs each side.
func BenchmarkBackup(b *testing.B) {
	db := benchDB(b)
	fi, err := os.Stat(db.Path())
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("database: %d MB", fi.Size()>>20)
	dest, err := backup.OpenDir(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	take := func(b *testing.B) {
		if _, err := backup.Take(context.Background(), db, dest, time.Now()); err != nil {
			b.Fatal(err)
		}
		if _, err := backup.Prune(context.Background(), dest, 1); err != nil {
			b.Fatal(err)
		}
	}
	// writers runs 8 writers until stop is closed and returns how many
	// writes they made.
	writers := func(stop chan struct{}, slow *slowest) func() int64 {
		var n atomic.Int64
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for i := w; ; i += 8 {
					select {
					case <-stop:
						return
					default:
					}
					if err := slow.write(db, i); err != nil {
						b.Error(err)
						return
					}
					n.Add(1)
				}
			})
		}
		return func() int64 { wg.Wait(); return n.Load() }
	}

	b.Run("Backup/idle", func(b *testing.B) {
		for b.Loop() {
			take(b)
		}
	})
	b.Run("Backup/with-writers", func(b *testing.B) {
		stop := make(chan struct{})
		var slow slowest
		wait := writers(stop, &slow)
		start := time.Now()
		for b.Loop() {
			take(b)
		}
		took := time.Since(start)
		close(stop)
		b.ReportMetric(float64(wait())/took.Seconds(), "writes/s")
		slow.report(b)
	})
	b.Run("Write/idle", func(b *testing.B) {
		b.SetParallelism(4) // 8 writers on 2 CPUs, as above
		var key atomic.Int64
		var slow slowest
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := slow.write(db, int(key.Add(1))); err != nil {
					b.Error(err)
					return
				}
			}
		})
		slow.report(b)
	})
	// Backups run back to back behind every round of Write/during-backup.
	stop := make(chan struct{})
	var backups sync.WaitGroup
	backups.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := backup.Take(context.Background(), db, dest, time.Now()); err != nil {
				b.Error(err)
				return
			}
			if _, err := backup.Prune(context.Background(), dest, 1); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.Run("Write/during-backup", func(b *testing.B) {
		b.SetParallelism(4)
		var key atomic.Int64
		var slow slowest
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := slow.write(db, int(key.Add(1))); err != nil {
					b.Error(err)
					return
				}
			}
		})
		slow.report(b)
	})
	close(stop)
	backups.Wait()
}
