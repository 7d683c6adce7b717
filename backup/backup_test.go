package backup_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"micro.dev/micro/backup"
	"micro.dev/micro/backup/backuptest"
	"micro.dev/micro/internal/testkit"
	"micro.dev/micro/schema"
)

var kvMigrations = []schema.Migrations{{
	Block: "kv",
	FS:    fstest.MapFS{"001_init.sql": {Data: []byte(`CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT NOT NULL) STRICT;`)}},
}}

func openDB(t *testing.T, path string) *schema.DB {
	t.Helper()
	db, err := schema.Open(context.Background(), path, schema.Options{Migrations: kvMigrations})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func put(t *testing.T, db *schema.DB, k, v string) {
	t.Helper()
	err := db.Write(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v`, k, v)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, db *schema.DB) int {
	t.Helper()
	var n int
	if err := db.Read().QueryRow(`SELECT count(*) FROM kv`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// s3Dest serves a fake bucket on loopback and opens a destination in it.
func s3Dest(t *testing.T) (backup.Destination, *backuptest.S3) {
	fake := backuptest.NewS3(t, "backups")
	fake.SetEnv(t)
	dest, err := backup.Open("s3://backups/node-1?endpoint=" + fake.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	return dest, fake
}

func TestBackupRetentionRestore(t *testing.T) {
	for _, kind := range []string{"dir", "s3"} {
		t.Run(kind, func(t *testing.T) {
			var dest backup.Destination
			if kind == "s3" {
				dest, _ = s3Dest(t)
			} else {
				var err error
				if dest, err = backup.Open(filepath.Join(t.TempDir(), "backups")); err != nil {
					t.Fatal(err)
				}
			}
			testBackupRetentionRestore(t, dest)
		})
	}
}

func testBackupRetentionRestore(t *testing.T, dest backup.Destination) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openDB(t, filepath.Join(dir, "micro.db"))
	defer db.Close()
	// A foreign object at the destination that retention must not touch.
	if err := dest.Put(ctx, "notes.txt", strings.NewReader("mine"), 4); err != nil {
		t.Fatal(err)
	}

	s, err := backup.New(backup.Config{DB: db, To: dest, Every: time.Hour, Keep: 2})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for i := range 3 {
		for j := range 50 {
			put(t, db, fmt.Sprintf("k%d-%d", i, j), strings.Repeat("v", 100))
		}
		res, err := s.Backup(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.Size <= 0 || res.DBSize <= res.Size {
			t.Fatalf("sizes: %+v", res)
		}
		names = append(names, res.Name)
		time.Sleep(2 * time.Millisecond) // names have millisecond precision
	}
	st := s.Status()
	if st.Successes != 3 || st.Failures != 0 || st.Failing() || st.Last.Name != names[2] || st.LastSuccess.IsZero() {
		t.Fatalf("status: %+v", st)
	}

	entries, err := backup.List(ctx, dest)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].Name != names[2] || entries[1].Name != names[1] {
		t.Fatalf("after retention: %+v, want %v newest first", entries, names[1:])
	}
	for _, e := range entries {
		if e.Integrity != "ok" || e.Size <= 0 || e.Taken.IsZero() {
			t.Fatalf("entry: %+v", e)
		}
	}
	objs, err := dest.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 3 {
		t.Fatalf("objects: %+v (the foreign one must stay)", objs)
	}
	// Nothing left staged beside the database.
	if left, _ := filepath.Glob(filepath.Join(dir, backup.StagePrefix+"*")); len(left) > 0 {
		t.Fatalf("staging left behind: %v", left)
	}

	// The newest, found by itself, has every key; an older one by name
	// has the keys written before it.
	restored := filepath.Join(t.TempDir(), "restored.db")
	r, err := backup.Restore(ctx, dest, "", restored, false)
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != names[2] || r.Versions["kv"] != 1 {
		t.Fatalf("restored: %+v", r)
	}
	rdb := openDB(t, restored)
	if n := count(t, rdb); n != 150 {
		t.Fatalf("restored newest has %d keys, want 150", n)
	}
	rdb.Close()

	if _, err := backup.Restore(ctx, dest, names[1], restored, false); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("restore over an existing file without --force: %v", err)
	}
	if _, err := backup.Restore(ctx, dest, names[1], restored, true); err != nil {
		t.Fatal(err)
	}
	rdb = openDB(t, restored)
	if n := count(t, rdb); n != 100 {
		t.Fatalf("restored older has %d keys, want 100", n)
	}
	// A server on the file: even --force refuses.
	if _, err := backup.Restore(ctx, dest, names[2], restored, true); !errors.Is(err, schema.ErrInUse) {
		t.Fatalf("restore over a file in use: %v", err)
	}
	rdb.Close()

	if _, err := backup.Restore(ctx, dest, names[0], filepath.Join(t.TempDir(), "x.db"), false); !errors.Is(err, backup.ErrNotFound) {
		t.Fatalf("restore of a pruned snapshot: %v", err)
	}
}

// TestRestoreRefusesDamage: a damaged snapshot, or a file that is not a
// micro database, is refused and leaves nothing at the destination path.
func TestRestoreRefusesDamage(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, filepath.Join(t.TempDir(), "micro.db"))
	defer db.Close()
	for i := range 200 {
		put(t, db, fmt.Sprint(i), strings.Repeat("x", 500))
	}
	dest, err := backup.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	res, err := backup.Take(ctx, db, dest, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(dest.String(), res.Name))
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0xff
	notMicro := filepath.Join(t.TempDir(), "other.db")
	other, err := sql.Open("sqlite", notMicro)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Exec(`CREATE TABLE t (x)`); err != nil {
		t.Fatal(err)
	}
	other.Close()
	otherBytes, err := os.ReadFile(notMicro)
	if err != nil {
		t.Fatal(err)
	}

	for name, body := range map[string][]byte{
		"flipped.db.gz":   flipped,
		"truncated.db.gz": good[:len(good)-100],
		"other.db":        otherBytes,
		"empty.db":        nil,
	} {
		if err := os.WriteFile(filepath.Join(dest.String(), name), body, 0o600); err != nil {
			t.Fatal(err)
		}
		to := filepath.Join(t.TempDir(), "restored.db")
		if _, err := backup.Restore(ctx, dest, name, to, false); err == nil {
			t.Errorf("%s: restored", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
		if _, err := os.Stat(to); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: left %s behind (%v)", name, to, err)
		}
		if left, _ := filepath.Glob(filepath.Join(filepath.Dir(to), ".micro-restore-*")); len(left) > 0 {
			t.Errorf("%s: left %v behind", name, left)
		}
	}
}

// corruptSource hands out a snapshot that fails PRAGMA integrity_check.
type corruptSource struct{ db *schema.DB }

func (c corruptSource) Path() string { return c.db.Path() }

func (c corruptSource) Backup(ctx context.Context, dest string) error {
	if err := c.db.Backup(ctx, dest); err != nil {
		return err
	}
	f, err := os.OpenFile(dest, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	// Page 2 onwards hold tables: scribble over the middle of the file.
	fi, _ := f.Stat()
	_, err = f.WriteAt(bytes.Repeat([]byte{0xA5}, 4096), fi.Size()/2)
	return err
}

func TestCorruptSnapshotIsNotPut(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, filepath.Join(t.TempDir(), "micro.db"))
	defer db.Close()
	for i := range 500 {
		put(t, db, fmt.Sprint(i), strings.Repeat("x", 200))
	}
	dest, err := backup.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, err := backup.New(backup.Config{DB: corruptSource{db}, To: dest, Every: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Backup(ctx); err == nil {
		t.Fatal("a corrupt snapshot was backed up")
	} else {
		t.Log(err)
	}
	if objs, _ := dest.List(ctx); len(objs) != 0 {
		t.Fatalf("put despite the failed check: %v", objs)
	}
	if st := s.Status(); !st.Failing() || st.Failures != 1 || !strings.Contains(st.LastError, "integrity") && !strings.Contains(st.LastError, "malformed") {
		t.Fatalf("status: %+v", st)
	}
}

// TestUnreachableDestination: a backup to an S3 endpoint nobody answers
// fails, and says so in the status; the next good one clears it.
func TestUnreachableDestination(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, filepath.Join(t.TempDir(), "micro.db"))
	defer db.Close()
	put(t, db, "a", "b")
	ln := testkit.Listen(t)
	closed := ln.Addr().String()
	ln.Close()
	fake := backuptest.NewS3(t, "backups")
	fake.SetEnv(t)
	dead, err := backup.Open("s3://backups/x?endpoint=http://" + closed)
	if err != nil {
		t.Fatal(err)
	}
	s, err := backup.New(backup.Config{DB: db, To: dead, Every: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Backup(ctx); err == nil {
		t.Fatal("backup to a closed port succeeded")
	} else if !strings.Contains(err.Error(), "s3://backups/x/") {
		t.Fatalf("error does not name the destination: %v", err)
	}
	st := s.Status()
	if !st.Failing() || st.Failures != 1 || st.LastErrorAt.IsZero() || !st.LastSuccess.IsZero() {
		t.Fatalf("status: %+v", st)
	}
}

// TestScheduleRuns: Run takes backups on its own, applies retention, and
// stops when its context ends.
func TestScheduleRuns(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "micro.db"))
	defer db.Close()
	put(t, db, "a", "b")
	dest, err := backup.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, err := backup.New(backup.Config{DB: db, To: dest, Every: 20 * time.Millisecond, Keep: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { s.Run(ctx) })
	deadline := time.Now().Add(20 * time.Second)
	for s.Status().Successes < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("status after 20s: %+v", s.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	entries, err := backup.List(context.Background(), dest)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("kept %d snapshots, want 2", len(entries))
	}
	if st := s.Status(); st.Next.IsZero() || st.Running {
		t.Fatalf("status: %+v", st)
	}
}

func TestOpenRefuses(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "k")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s")
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o600)
	for _, target := range []string{
		"", "ftp://host/x", "s3://", "s3://key:secret@bucket/x",
		"s3://bucket/x?endpoint=http://127.0.0.1:1&colour=blue",
		"s3://bucket/x?endpoint=127.0.0.1:1/path",
		"s3://bucket/x?endpoint=127.0.0.1:1&path-style=maybe",
		"file://otherhost/x", file,
	} {
		if _, err := backup.Open(target); err == nil {
			t.Errorf("Open(%q) accepted", target)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q) error shows the secret: %v", target, err)
		}
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	if _, err := backup.Open("s3://bucket/x?endpoint=http://127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Errorf("no credentials: %v", err)
	}
}

func TestNames(t *testing.T) {
	at := time.Date(2026, 12, 5, 3, 4, 5, 678e6, time.FixedZone("x", 3600))
	name := backup.Name(at)
	if name != "micro-20261205T020405.678Z.db.gz" {
		t.Fatal(name)
	}
	if got, ok := backup.ParseName(name); !ok || !got.Equal(at) {
		t.Fatal(got, ok)
	}
	for _, bad := range []string{"micro-x.db.gz", "micro-20261205T020405.678Z.db", "notes.txt"} {
		if _, ok := backup.ParseName(bad); ok {
			t.Errorf("ParseName(%q) ok", bad)
		}
	}
}

// TestScheduleStandsBy: of two schedulers on one destination, the one
// another process takes the backups for (Config.TakenBy) takes none and
// says who does; when the other stands by in turn, it takes them.
func TestScheduleStandsBy(t *testing.T) {
	dest, err := backup.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var leader sync.Map // "leader" -> name
	leader.Store("leader", "a")
	sched := map[string]*backup.Scheduler{}
	for _, name := range []string{"a", "b"} {
		db := openDB(t, filepath.Join(t.TempDir(), "micro.db"))
		defer db.Close()
		put(t, db, "node", name)
		s, err := backup.New(backup.Config{DB: db, To: dest, Every: 20 * time.Millisecond, TakenBy: func() string {
			if l, _ := leader.Load("leader"); l != name {
				return l.(string)
			}
			return ""
		}})
		if err != nil {
			t.Fatal(err)
		}
		sched[name] = s
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, s := range sched {
		wg.Go(func() { s.Run(ctx) })
	}
	defer func() { cancel(); wg.Wait() }()
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: a %+v, b %+v", what, sched["a"].Status(), sched["b"].Status())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("a takes backups, b stands by", func() bool {
		return sched["a"].Status().Successes >= 3 && sched["b"].Status().Standby == "a"
	})
	if st := sched["b"].Status(); st.Successes != 0 || st.Failures != 0 {
		t.Fatalf("b, standing by, took backups: %+v", st)
	}
	leader.Store("leader", "b")
	waitFor("b takes over", func() bool {
		return sched["b"].Status().Successes >= 1 && sched["a"].Status().Standby == "b"
	})
	if st := sched["b"].Status(); st.Standby != "" {
		t.Fatalf("b takes backups but says %q does", st.Standby)
	}
}
