//go:build unix

package runtime

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"micro.dev/micro/internal/testkit"
	"micro.dev/micro/schema"
)

// TestLogsAreCappedBySize writes a service's logs well past its size cap:
// what stays is within the cap, the oldest lines are gone and the newest
// kept; another service is untouched.
func TestLogsAreCappedBySize(t *testing.T) {
	t.Parallel()
	db := newEnv(t, testConfig(t)).rt.backend
	a, b := Key{"micro", "a", "latest"}, Key{"micro", "b", "latest"}
	bg := context.Background()
	limit := LogCap{Lines: 100000, Bytes: 64 << 10}
	msg := strings.Repeat("x", 1000)
	if err := db.AppendLogs(bg, b, []LogLine{{Time: time.Now(), Stream: StreamStdout, Message: "b"}}, limit); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		var lines []LogLine
		for j := 0; j < 10; j++ { // 500 lines of ~1 KB: 8 times the cap
			lines = append(lines, LogLine{Time: time.Now(), Stream: StreamStdout, Message: strconv.Itoa(i*10+j) + " " + msg})
		}
		if err := db.AppendLogs(bg, a, lines, limit); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.ReadLogs(bg, a, LogQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	for _, l := range got {
		size += l.size()
	}
	if size > limit.Bytes || size < limit.Bytes-2*int64(len(msg)+100) {
		t.Errorf("kept %d bytes in %d lines; want just under the cap of %d", size, len(got), limit.Bytes)
	}
	if last := got[len(got)-1].Message; !strings.HasPrefix(last, "499 ") {
		t.Errorf("newest line kept is %.10q; want line 499", last)
	}
	if first := got[0].Message; !strings.HasPrefix(first, strconv.Itoa(500-len(got))+" ") {
		t.Errorf("oldest line kept is %.10q; want line %d (the newest %d lines)", first, 500-len(got), len(got))
	}
	if got, _ := db.ReadLogs(bg, b, LogQuery{}); len(got) != 1 {
		t.Errorf("service b has %d lines; another service's cap must not touch it", len(got))
	}
}

// TestLogsAreCappedByAge: lines older than the cap's age go at the next
// write; younger ones stay.
func TestLogsAreCappedByAge(t *testing.T) {
	t.Parallel()
	clock := testkit.NewClock()
	now := clock.Now()
	cfg := testConfig(t)
	cfg.Now = clock.Now
	db := newEnv(t, cfg).rt.backend
	k := Key{"micro", "a", "latest"}
	bg := context.Background()
	limit := LogCap{Lines: 1000, Age: time.Hour}
	write := func(at time.Time, msg string) {
		t.Helper()
		if err := db.AppendLogs(bg, k, []LogLine{{Time: at, Stream: StreamStdout, Message: msg}}, limit); err != nil {
			t.Fatal(err)
		}
	}
	write(now.Add(-3*time.Hour), "three hours old")
	write(now.Add(-2*time.Hour), "two hours old")
	write(now.Add(-30*time.Minute), "half an hour old")
	write(now, "new")
	got, _ := db.ReadLogs(bg, k, LogQuery{})
	if len(got) != 2 || got[0].Message != "half an hour old" || got[1].Message != "new" {
		t.Fatalf("kept %v; want the lines younger than an hour", got)
	}
	clock.Advance(time.Hour)
	write(clock.Now(), "newer")
	got, _ = db.ReadLogs(bg, k, LogQuery{})
	if len(got) != 2 || got[0].Message != "new" || got[1].Message != "newer" {
		t.Fatalf("an hour later kept %v; want new, newer", got)
	}
}

// TestLogBufferIsCappedBySize: a service writing faster than the buffer is
// flushed keeps at most the size cap in memory too.
func TestLogBufferIsCappedBySize(t *testing.T) {
	t.Parallel()
	w := newLogWriter(nil, LogCap{Lines: 1000, Bytes: 10 << 10}, nil)
	k := Key{"micro", "a", "latest"}
	msg := strings.Repeat("y", 1000)
	for i := 0; i < 100; i++ {
		w.add(k, LogLine{Time: time.Now(), Stream: StreamStdout, Message: strconv.Itoa(i) + msg})
	}
	p := w.pending[k]
	if p.size > 10<<10 || len(p.lines) == 0 || !strings.HasPrefix(p.lines[len(p.lines)-1].Message, "99") {
		t.Fatalf("buffer holds %d bytes in %d lines; want at most 10 KiB ending with line 99", p.size, len(p.lines))
	}
	if p.dropped != 100-len(p.lines) {
		t.Fatalf("dropped %d; want %d", p.dropped, 100-len(p.lines))
	}
}

// TestLogsAreTrimmedOnAFullDisk: with the disk full new lines are refused,
// but the cap still trims what is kept, since that frees space.
func TestLogsAreTrimmedOnAFullDisk(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "micro.db")
	clock := testkit.NewClock()
	open := func(minFree int64) *sqliteBackend {
		db, err := schema.Open(context.Background(), path, schema.Options{Migrations: []schema.Migrations{Migrations}, MinFreeSpace: minFree})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return newSQLite(db, clock.Now)
	}
	b := open(0)
	k := Key{"micro", "a", "latest"}
	bg := context.Background()
	limit := LogCap{Lines: 1000, Age: time.Hour}
	for i := range 3 {
		if err := b.AppendLogs(bg, k, []LogLine{{Time: clock.Now(), Stream: StreamStdout, Message: strconv.Itoa(i)}}, limit); err != nil {
			t.Fatal(err)
		}
	}
	b.db.Close()

	b = open(1 << 62)
	if b.db.Health() == nil {
		t.Skip("free space is not known on this system")
	}
	clock.Advance(2 * time.Hour)
	err := b.AppendLogs(bg, k, []LogLine{{Time: clock.Now(), Stream: StreamStdout, Message: "new"}}, limit)
	if !errors.Is(err, schema.ErrDiskFull) {
		t.Fatalf("appending with the disk full: %v, want ErrDiskFull", err)
	}
	if got, err := b.ReadLogs(bg, k, LogQuery{}); err != nil || len(got) != 0 {
		t.Fatalf("with the disk full kept %v (%v); want the lines past the age cap trimmed", got, err)
	}
}
