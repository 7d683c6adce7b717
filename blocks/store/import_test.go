package store

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"micro.dev/micro/internal/natstest"
)

// TestImport copies an appliance's records and blobs (a real SQLite file)
// into the store on a real JetStream: values, metadata, expiry and times
// equal, blobs' bytes and times too; a record the cluster already has is
// kept, not overwritten; a second import copies nothing.
func TestImport(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	file := newEnv(t, WithClock(time.Now))
	src := file.store.backend
	want := map[string]Record{}
	for i, w := range []struct{ db, table, key, value string }{
		{"micro", "micro", "a", "1"}, {"micro", "micro", "b", "2"}, {"micro", "users", "u/1", "ann"}, {"shop", "orders", "o.1", "x"},
	} {
		r := Record{Key: w.key, Value: []byte(w.value), Metadata: map[string]Field{"n": {Type: "int", Value: "1"}}}
		if i == 1 {
			r.ExpiresAt = time.Now().Add(time.Hour).Truncate(time.Millisecond)
		}
		if _, err := src.Write(ctx, w.db, w.table, r, nil); err != nil {
			t.Fatal(err)
		}
		got, err := src.Read(ctx, w.db, w.table, Query{Key: w.key})
		if err != nil {
			t.Fatal(err)
		}
		want[w.db+"/"+w.table+"/"+w.key] = got[0]
	}
	// Expired in the file: not carried.
	if _, err := src.Write(ctx, "micro", "micro", Record{Key: "gone", Value: []byte("x"), ExpiresAt: time.Now().Add(-time.Second)}, nil); err != nil {
		t.Fatal(err)
	}
	wantBlob := writeLogo(t, ctx, file.store.blobs.backend)

	cluster := jsEnv(t, natstest.Server(t), 1)
	if held, err := cluster.store.Held(ctx); err != nil || held != "" {
		t.Fatalf("empty cluster holds %q, %v", held, err)
	}
	// The cluster already has micro/micro/a: it stays as it is.
	if _, err := cluster.store.backend.Write(ctx, "micro", "micro", Record{Key: "a", Value: []byte("cluster's")}, nil); err != nil {
		t.Fatal(err)
	}
	copied, kept, err := cluster.store.Import(ctx, file.db)
	if err != nil || copied != 4 || kept != 1 {
		t.Fatalf("import: copied %d kept %d, %v; want 4 (3 records, 1 blob) and 1", copied, kept, err)
	}
	for k, w := range want {
		parts := strings.SplitN(k, "/", 3)
		db, table, key := parts[0], parts[1], parts[2]
		got, err := cluster.store.backend.Read(ctx, db, table, Query{Key: key})
		if err != nil || len(got) != 1 {
			t.Fatalf("%s: %v %v", k, got, err)
		}
		g := got[0]
		if k == "micro/micro/a" {
			if string(g.Value) != "cluster's" {
				t.Fatalf("the cluster's record was overwritten: %q", g.Value)
			}
			continue
		}
		if string(g.Value) != string(w.Value) || g.Metadata["n"] != w.Metadata["n"] || !g.ExpiresAt.Equal(w.ExpiresAt) ||
			!g.Created.Equal(w.Created) || !g.Updated.Equal(w.Updated) {
			t.Fatalf("%s: got %+v, want %+v", k, g, w)
		}
	}
	if got, _ := cluster.store.backend.Read(ctx, "micro", "micro", Query{Key: "gone"}); len(got) != 0 {
		t.Fatalf("an expired record was imported: %v", got)
	}
	r, err := cluster.store.blobs.backend.Open(ctx, "micro", "files", "logo.png")
	if err != nil {
		t.Fatal(err)
	}
	var blob []byte
	for {
		chunk, err := r.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		blob = append(blob, chunk...)
	}
	if string(blob) != "abcdef" || r.Info().ContentType != "image/png" {
		t.Fatalf("blob: %q %+v", blob, r.Info())
	}
	sameBlobTimes(t, "the cluster", r.Info(), wantBlob)
	if held, err := cluster.store.Held(ctx); err != nil || held == "" {
		t.Fatalf("after import the cluster holds %q, %v", held, err)
	}
	if copied, kept, err := cluster.store.Import(ctx, file.db); err != nil || copied != 0 || kept != 5 {
		t.Fatalf("second import: copied %d kept %d, %v; want 0 and 5", copied, kept, err)
	}
}
