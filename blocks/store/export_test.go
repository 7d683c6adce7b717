package store

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"micro.dev/micro/internal/natstest"
)

// TestExport copies the store on a real JetStream into a fresh SQLite file
// and that file into a second JetStream (the round trip of a cluster
// backup restored with an import): records with their values, metadata,
// expiry and times, more than a page of them in one table, and blobs with
// their times, equal at every step; an expired record is not carried.
func TestExport(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cluster := jsEnv(t, natstest.Server(t), 1)
	src := cluster.store.backend
	type at struct{ db, table, key string }
	var keys []at
	for i := range importPage + 200 {
		keys = append(keys, at{"micro", "big", fmt.Sprintf("k%05d", i)})
	}
	keys = append(keys, at{"micro", "users", "u/1"}, at{"shop", "orders", "o.1"})
	for i, k := range keys {
		r := Record{Key: k.key, Value: []byte("v" + k.key), Metadata: map[string]Field{"n": {Type: "int", Value: fmt.Sprint(i)}}}
		if i%100 == 0 {
			r.ExpiresAt = time.Now().Add(time.Hour).Truncate(time.Millisecond)
		}
		if _, err := src.Write(ctx, k.db, k.table, r, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := src.Write(ctx, "micro", "users", Record{Key: "gone", Value: []byte("x"), ExpiresAt: time.Now().Add(-time.Second)}, nil); err != nil {
		t.Fatal(err)
	}
	wantBlob := writeLogo(t, ctx, cluster.store.blobs.backend)

	want := map[at]Record{}
	for _, k := range keys {
		got, err := src.Read(ctx, k.db, k.table, Query{Key: k.key})
		if err != nil || len(got) != 1 {
			t.Fatalf("%v: %v %v", k, got, err)
		}
		want[k] = got[0]
	}
	same := func(where string, be Backend) {
		t.Helper()
		for k, w := range want {
			got, err := be.Read(ctx, k.db, k.table, Query{Key: k.key})
			if err != nil || len(got) != 1 {
				t.Fatalf("%s: %v: %v %v", where, k, got, err)
			}
			g := got[0]
			if string(g.Value) != string(w.Value) || g.Metadata["n"] != w.Metadata["n"] || !g.ExpiresAt.Equal(w.ExpiresAt) ||
				!g.Created.Equal(w.Created) || !g.Updated.Equal(w.Updated) {
				t.Fatalf("%s: %v: got %+v, want %+v", where, k, g, w)
			}
		}
		if got, err := be.Read(ctx, "micro", "users", Query{}); err != nil || len(got) != 1 {
			t.Fatalf("%s: micro/users holds %v, %v; want u/1 only (gone expired)", where, got, err)
		}
	}

	file := newEnv(t, WithClock(time.Now))
	copied, err := cluster.store.Export(ctx, file.db)
	if err != nil || copied != len(keys)+1 {
		t.Fatalf("export: copied %d, %v; want %d records and 1 blob", copied, err, len(keys))
	}
	same("the file", file.store.backend)
	if got := readBlob(t, ctx, file.store.blobs.backend, "micro", "files", "logo.png"); got != "abcdef" {
		t.Fatalf("the file's blob: %q", got)
	}
	sameBlobTimes(t, "the file", blobInfo(t, ctx, file.store.blobs.backend, "micro", "files", "logo.png"), wantBlob)

	again := jsEnv(t, natstest.Server(t), 1)
	if copied, kept, err := again.store.Import(ctx, file.db); err != nil || copied != len(keys)+1 || kept != 0 {
		t.Fatalf("import of the export: copied %d kept %d, %v", copied, kept, err)
	}
	same("the second cluster", again.store.backend)
	if got := readBlob(t, ctx, again.store.blobs.backend, "micro", "files", "logo.png"); got != "abcdef" {
		t.Fatalf("the second cluster's blob: %q", got)
	}
	sameBlobTimes(t, "the second cluster", blobInfo(t, ctx, again.store.blobs.backend, "micro", "files", "logo.png"), wantBlob)
}

// TestCopyRecordsKeepsWhatDestHas: a page refused because the file has
// one of its records is copied again record by record, that one kept.
func TestCopyRecordsKeepsWhatDestHas(t *testing.T) {
	ctx := t.Context()
	from, to := newEnv(t, WithClock(time.Now)), newEnv(t, WithClock(time.Now))
	for i := range 5 {
		if _, err := from.store.backend.Write(ctx, "micro", "t", Record{Key: fmt.Sprint(i), Value: []byte("from")}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := to.store.backend.Write(ctx, "micro", "t", Record{Key: "3", Value: []byte("to's")}, nil); err != nil {
		t.Fatal(err)
	}
	copied, kept, err := copyRecords(ctx, from.store.backend.(*sqliteBackend), to.store.backend, importPage)
	if err != nil || copied != 4 || kept != 1 {
		t.Fatalf("copied %d kept %d, %v; want 4 and 1", copied, kept, err)
	}
	got, err := to.store.backend.Read(ctx, "micro", "t", Query{})
	if err != nil || len(got) != 5 || string(got[3].Value) != "to's" || string(got[0].Value) != "from" {
		t.Fatalf("the file holds %v, %v", got, err)
	}
}

// writeBlob writes a blob of chunks straight to be, with info.
func writeBlob(t *testing.T, ctx context.Context, be BlobBackend, db, table, key string, info BlobInfo, chunks ...string) {
	t.Helper()
	for _, c := range chunks {
		info.Size += int64(len(c))
	}
	w, err := be.Create(ctx, db, table, key, info)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range chunks {
		if err := w.Write(ctx, []byte(c)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

// writeLogo writes micro/files/logo.png ("abcdef", image/png) over an
// older blob, so that its created and updated times differ, and returns
// its info.
func writeLogo(t *testing.T, ctx context.Context, be BlobBackend) BlobInfo {
	t.Helper()
	png := BlobInfo{ContentType: "image/png"}
	writeBlob(t, ctx, be, "micro", "files", "logo.png", png, "old")
	writeBlob(t, ctx, be, "micro", "files", "logo.png", png, "abc", "def")
	info := blobInfo(t, ctx, be, "micro", "files", "logo.png")
	if !info.Updated.After(info.Created) {
		t.Fatalf("the replaced blob's times: %+v", info)
	}
	return info
}

func blobInfo(t *testing.T, ctx context.Context, be BlobBackend, db, table, key string) BlobInfo {
	t.Helper()
	r, err := be.Open(ctx, db, table, key)
	if err != nil {
		t.Fatal(err)
	}
	return r.Info()
}

// sameBlobTimes fails unless a copy's blob has its source's times.
func sameBlobTimes(t *testing.T, where string, got, want BlobInfo) {
	t.Helper()
	if !got.Created.Equal(want.Created) || !got.Updated.Equal(want.Updated) {
		t.Fatalf("%s: blob created %v updated %v; want %v and %v", where, got.Created, got.Updated, want.Created, want.Updated)
	}
}

func readBlob(t *testing.T, ctx context.Context, be BlobBackend, db, table, key string) string {
	t.Helper()
	r, err := be.Open(ctx, db, table, key)
	if err != nil {
		t.Fatal(err)
	}
	if r.Info().ContentType != "image/png" {
		t.Fatalf("blob %s: %+v", key, r.Info())
	}
	var out []byte
	for {
		chunk, err := r.Next(ctx)
		if err == io.EOF {
			return string(out)
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, chunk...)
	}
}

// TestCopyRecordsLargeValues: values past the bytes a page may hold are
// written in more pages than the record count alone would make, none
// lost.
func TestCopyRecordsLargeValues(t *testing.T) {
	ctx := t.Context()
	from, to := newEnv(t, WithClock(time.Now)), newEnv(t, WithClock(time.Now))
	value := make([]byte, 1<<20)
	n := copyPageBytes/len(value) + 3
	for i := range n {
		value[0] = byte(i)
		for _, db := range []string{"a", "b"} {
			if _, err := from.store.backend.Write(ctx, db, "t", Record{Key: fmt.Sprint(i), Value: value}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	copied, kept, err := copyRecords(ctx, from.store.backend.(*sqliteBackend), to.store.backend, importPage)
	if err != nil || copied != 2*n || kept != 0 {
		t.Fatalf("copied %d kept %d, %v; want %d", copied, kept, err, 2*n)
	}
	for _, db := range []string{"a", "b"} {
		got, err := to.store.backend.Read(ctx, db, "t", Query{Key: "3"})
		if err != nil || len(got) != 1 || len(got[0].Value) != len(value) || got[0].Value[0] != 3 {
			t.Fatalf("%s/t/3 in the copy: %d records, %v", db, len(got), err)
		}
	}
}
