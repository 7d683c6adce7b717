package schema

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
)

func TestReadStrings(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "micro.db"))
	defer db.Close()
	for _, k := range []string{"b", "a", "c"} {
		put(t, db, k, "v"+k)
	}
	got, err := db.ReadStrings(context.Background(), `SELECT v FROM kv WHERE k != ? ORDER BY k`, "b")
	if err != nil || !slices.Equal(got, []string{"va", "vc"}) {
		t.Fatalf("got %q, %v", got, err)
	}
	if got, err := db.ReadStrings(context.Background(), `SELECT v FROM kv WHERE k = 'none'`); err != nil || got != nil {
		t.Fatalf("no rows: %q, %v", got, err)
	}
	if _, err := db.ReadStrings(context.Background(), `SELECT nosuch FROM kv`); err == nil {
		t.Fatal("a bad query returned no error")
	}
}
