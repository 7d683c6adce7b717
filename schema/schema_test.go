package schema

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

var testMigrations = []Migrations{{
	Block: "kv",
	FS: fstest.MapFS{
		"001_init.sql":  {Data: []byte(`CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT NOT NULL) STRICT;`)},
		"002_index.sql": {Data: []byte(`CREATE INDEX kv_v ON kv (v);`)},
	},
}}

func open(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(context.Background(), path, Options{Migrations: testMigrations})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func put(t *testing.T, db *DB, k, v string) {
	t.Helper()
	err := db.Write(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v`, k, v)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, db *DB, k string) string {
	t.Helper()
	var v string
	if err := db.Read().QueryRow(`SELECT v FROM kv WHERE k = ?`, k).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func sum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func TestOpenWriteCloseReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "micro.db")
	db := open(t, path)
	put(t, db, "greeting", "hello")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, side := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(path + side); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s left behind after Close: %v", side, err)
		}
	}
	// The file alone is the database: copy it and open the copy.
	cp := filepath.Join(t.TempDir(), "copy.db")
	b, _ := os.ReadFile(path)
	os.WriteFile(cp, b, 0o600)
	db = open(t, cp)
	defer db.Close()
	if v := get(t, db, "greeting"); v != "hello" {
		t.Fatalf("copy has %q", v)
	}
}

func TestPragmasTook(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "micro.db"))
	defer db.Close()
	var mode string
	db.Read().QueryRow("PRAGMA journal_mode").Scan(&mode)
	if mode != "wal" {
		t.Fatalf("journal_mode %q", mode)
	}
	var id int64
	db.Read().QueryRow("PRAGMA application_id").Scan(&id)
	if id != ApplicationID {
		t.Fatalf("application_id %x", id)
	}
	if _, err := db.Read().Exec(`INSERT INTO kv (k, v) VALUES ('a', 'b')`); err == nil {
		t.Fatal("read pool accepted a write")
	}
}

func TestRefusesWithoutTouching(t *testing.T) {
	dir := t.TempDir()

	notSQLite := filepath.Join(dir, "notes.txt")
	os.WriteFile(notSQLite, bytes.Repeat([]byte("hello world\n"), 20), 0o600)

	foreign := filepath.Join(dir, "foreign.db")
	fdb, err := sql.Open("sqlite", foreign)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fdb.Exec(`CREATE TABLE people (name TEXT)`); err != nil {
		t.Fatal(err)
	}
	fdb.Close()

	newer := filepath.Join(dir, "newer.db")
	db := open(t, newer)
	db.Write(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (block, version, name) VALUES ('kv', 9, '009_future.sql')`)
		return err
	})
	db.Close()

	unknownBlock := filepath.Join(dir, "unknown.db")
	db = open(t, unknownBlock)
	db.Write(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (block, version, name) VALUES ('teleport', 1, '001_init.sql')`)
		return err
	})
	db.Close()

	for _, tc := range []struct {
		path, want string
	}{
		{notSQLite, "not a SQLite database"},
		{foreign, "did not create"},
		{newer, "newer micro"},
		{unknownBlock, "newer micro"},
	} {
		before := sum(t, tc.path)
		_, err := Open(context.Background(), tc.path, Options{Migrations: testMigrations})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: got %v, want error containing %q", filepath.Base(tc.path), err, tc.want)
		}
		if sum(t, tc.path) != before {
			t.Fatalf("%s: file changed by a refused open", filepath.Base(tc.path))
		}
		for _, side := range []string{"-wal", "-shm", "-journal"} {
			if _, err := os.Stat(tc.path + side); err == nil {
				t.Fatalf("%s: %s left behind", filepath.Base(tc.path), side)
			}
		}
	}
}

func TestRefusesDirectoryAndUnwritable(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(context.Background(), dir, Options{}); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Fatalf("directory: %v", err)
	}
	if _, err := Open(context.Background(), filepath.Join(dir, "missing", "micro.db"), Options{}); err == nil {
		t.Fatal("path in a missing directory opened")
	}
}

func TestSecondOpenRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "micro.db")
	db := open(t, path)
	_, err := Open(context.Background(), path, Options{Migrations: testMigrations})
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("second open: %v", err)
	}
	put(t, db, "still", "works")
	db.Close()
	db = open(t, path)
	defer db.Close()
	if get(t, db, "still") != "works" {
		t.Fatal("lost write")
	}
}

func TestGroupCommitIsolatesFailures(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "micro.db"))
	defer db.Close()
	const n = 200
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = db.Write(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
				if i%10 == 0 {
					// Write, then fail: the savepoint must undo this row only.
					tx.ExecContext(ctx, `INSERT INTO kv (k, v) VALUES (?, 'doomed')`, "doomed"+strconv.Itoa(i))
					return errors.New("no")
				}
				if i == 7 {
					panic("handler bug")
				}
				_, err := tx.ExecContext(ctx, `INSERT INTO kv (k, v) VALUES (?, 'ok')`, "k"+strconv.Itoa(i))
				return err
			})
		}(i)
	}
	wg.Wait()
	var ok, failed int
	for i, err := range errs {
		switch {
		case i%10 == 0 || i == 7:
			if err == nil {
				t.Fatalf("write %d should have failed", i)
			}
			failed++
		case err != nil:
			t.Fatalf("write %d: %v", i, err)
		default:
			ok++
		}
	}
	var rows int
	db.Read().QueryRow(`SELECT count(*) FROM kv WHERE v = 'ok'`).Scan(&rows)
	var doomed int
	db.Read().QueryRow(`SELECT count(*) FROM kv WHERE v = 'doomed'`).Scan(&doomed)
	if rows != ok || doomed != 0 {
		t.Fatalf("rows %d (want %d), doomed %d", rows, ok, doomed)
	}
}

// TestCallerGivingUpSparesTheBatch: a caller whose context ends while its
// statement runs inside a shared transaction does not take the others'
// writes down with it. Were the statement interrupted (the driver calls
// sqlite3_interrupt when the context ends), SQLite would roll back the
// whole transaction and every write in the batch would fail.
func TestCallerGivingUpSparesTheBatch(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "micro.db"))
	defer db.Close()
	// Hold the writer so that the next two writes queue and share a batch.
	hold, held := make(chan struct{}), make(chan struct{})
	go db.Write(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
		close(held)
		<-hold
		return nil
	})
	<-held
	slowCtx, giveUp := context.WithCancel(context.Background())
	defer giveUp()
	slow, other := make(chan error, 1), make(chan error, 1)
	go func() {
		slow <- db.Write(slowCtx, func(ctx context.Context, tx *sql.Tx) error {
			time.AfterFunc(20*time.Millisecond, giveUp)
			// An insert that runs well past the caller giving up.
			_, err := tx.ExecContext(ctx, `INSERT INTO kv (k, v)
				WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 3000000)
				SELECT 'slow', CAST(count(*) AS TEXT) FROM c`)
			return err
		})
	}()
	go func() {
		other <- db.Write(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO kv (k, v) VALUES ('other', 'ok')`)
			return err
		})
	}()
	time.Sleep(50 * time.Millisecond) // both queued behind the held write
	close(hold)
	if err := <-other; err != nil {
		t.Fatalf("the other write in the batch failed: %v", err)
	}
	if get(t, db, "other") != "ok" {
		t.Fatal("the other write is not stored")
	}
	// Queued before it gave up, the slow caller is told what happened to
	// its write, which ran to its end and committed.
	if err := <-slow; err != nil {
		t.Fatalf("slow write: %v", err)
	}
	if get(t, db, "slow") != "3000000" {
		t.Fatal("the slow write answered success but is not stored")
	}
}

func TestWriteAfterClose(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "micro.db"))
	db.Close()
	err := db.Write(context.Background(), func(ctx context.Context, tx *sql.Tx) error { return nil })
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
}

func TestBackupWhileWriting(t *testing.T) {
	dir := t.TempDir()
	db := open(t, filepath.Join(dir, "micro.db"))
	defer db.Close()
	for i := 0; i < 50; i++ {
		put(t, db, "k"+strconv.Itoa(i), "v")
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
				put(t, db, "live"+strconv.Itoa(i%1000), "v")
			}
		}
	}()
	dest := filepath.Join(dir, "backup.db")
	err := db.Backup(context.Background(), dest)
	close(stop)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Backup(context.Background(), dest); err == nil {
		t.Fatal("backup over an existing file")
	}
	b := open(t, dest)
	defer b.Close()
	var n int
	b.Read().QueryRow(`SELECT count(*) FROM kv WHERE k LIKE 'k%'`).Scan(&n)
	if n != 50 {
		t.Fatalf("backup has %d of 50 rows", n)
	}
}

// TestIdle: a file a server has open is in use; closed, it is whole on
// its own; a write-ahead log left beside it (a server that did not stop
// cleanly) is reported, not ignored.
func TestIdle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "micro.db")
	db := open(t, path)
	if err := Idle(path); !errors.Is(err, ErrInUse) {
		t.Fatalf("open file: %v, want ErrInUse", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := Idle(path); err != nil {
		t.Fatalf("closed file: %v", err)
	}
	if err := os.WriteFile(path+"-wal", []byte("frames"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Idle(path); err == nil || !strings.Contains(err.Error(), "write-ahead log") {
		t.Fatalf("file with a log beside it: %v", err)
	}
}

// TestQueryRead: a read through a statement prepared once per query text
// answers as a plain query does, with each call's own arguments; past the
// cache's bound, queries still answer, unprepared; after Close it says so.
func TestQueryRead(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "micro.db"))
	put(t, db, "a", "1")
	put(t, db, "b", "2")
	read := func(query string, args ...any) string {
		t.Helper()
		rows, err := db.QueryRead(context.Background(), query, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
			out = append(out, v)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return strings.Join(out, ",")
	}
	const byKey = `SELECT v FROM kv WHERE k = ?`
	if a, b := read(byKey, "a"), read(byKey, "b"); a != "1" || b != "2" {
		t.Fatalf("reads by key: %q %q", a, b)
	}
	if n := len(db.readStmts); n != 1 {
		t.Fatalf("%d statements kept for one query", n)
	}
	for i := range maxReadStmts + 10 {
		if got := read(fmt.Sprintf(`SELECT v FROM kv WHERE k = ? AND %d = %d`, i, i), "b"); got != "2" {
			t.Fatalf("query %d answered %q", i, got)
		}
	}
	if n := len(db.readStmts); n != maxReadStmts {
		t.Fatalf("%d statements kept, the bound is %d", n, maxReadStmts)
	}
	if _, err := db.QueryRead(context.Background(), `SELECT nothing FROM nowhere`); err == nil {
		t.Fatal("a bad query answered")
	}
	db.Close()
	if _, err := db.QueryRead(context.Background(), byKey, "a"); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
}
