package config

import (
	"bytes"
	"context"
	"testing"
	"time"

	"micro.dev/micro/internal/natstest"
)

// TestExport copies the config on a real JetStream into a fresh SQLite
// file, which an appliance reads the same (secrets open with the key the
// file now carries), and that file into a second JetStream (a cluster
// backup restored with an import): values and secrets equal.
func TestExport(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cluster := newEnv(t, WithJetStream(natstest.Connect(t, natstest.Server(t)), 1))
	cluster.set(t, "app", `{"greeting":"hi","db":{"port":5432}}`, false)
	cluster.set(t, "app.password", `"s3cret"`, true)
	if _, err := cluster.config.backend.Set(ctx, "shop", "currency", []Leaf{{Path: "currency", Value: `"EUR"`}}, true); err != nil {
		t.Fatal(err)
	}
	// A namespace emptied holds nothing to carry.
	if _, err := cluster.config.backend.Set(ctx, "gone", "x", []Leaf{{Path: "x", Value: `1`}}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.config.backend.Delete(ctx, "gone", ""); err != nil {
		t.Fatal(err)
	}
	clusterKey := cluster.storedSecretKey(t)
	const app = `{"db":{"port":5432},"greeting":"hi","password":"s3cret"}`

	file := newEnv(t)
	copied, err := cluster.config.Export(ctx, file.db)
	if err != nil || copied != 4 {
		t.Fatalf("export: copied %d, %v; want 4", copied, err)
	}
	if !bytes.Equal(file.storedSecretKey(t), clusterKey) {
		t.Fatal("the file does not carry the cluster's key")
	}
	if got := file.get(t, "app", true); got != app {
		t.Fatalf("the file's app: %s", got)
	}
	if got := file.get(t, "app.password", false); got != Secret {
		t.Fatalf("a secret reads in clear from the file: %s", got)
	}
	if has, err := file.config.backend.Exists(ctx, "gone"); err != nil || has {
		t.Fatalf("an emptied namespace was carried: %v %v", has, err)
	}

	again := newEnv(t, WithJetStream(natstest.Connect(t, natstest.Server(t)), 1))
	if copied, kept, err := again.config.Import(ctx, file.db); err != nil || copied != 4 || kept != 0 {
		t.Fatalf("import of the export: copied %d kept %d, %v", copied, kept, err)
	}
	if got := again.get(t, "app", true); got != app {
		t.Fatalf("the second cluster's app: %s", got)
	}
	leaves, err := again.config.backend.Leaves(ctx, "shop", "")
	if err != nil || len(leaves) != 1 || leaves[0].Value != `"EUR"` {
		t.Fatalf("shop: %+v %v", leaves, err)
	}
}

// TestExportWithoutStoredKey: a cluster given its key stores none, and its
// file carries none; the secrets open where the file is started with that
// key, as an appliance's would.
func TestExportWithoutStoredKey(t *testing.T) {
	ctx := t.Context()
	key := bytes.Repeat([]byte{7}, SecretKeySize)
	cluster := newEnv(t, WithJetStream(natstest.Connect(t, natstest.Server(t)), 1), WithSecretKey(key))
	cluster.set(t, "db.password", `"pw"`, true)
	file := newEnv(t, WithSecretKey(key))
	if copied, err := cluster.config.Export(ctx, file.db); err != nil || copied != 1 {
		t.Fatalf("export: copied %d, %v", copied, err)
	}
	if k := file.storedSecretKey(t); k != nil {
		t.Fatal("the file carries a key the cluster never stored")
	}
	if got := file.get(t, "db.password", true); got != `"pw"` {
		t.Fatalf("the secret in the file opened with the key given: %s", got)
	}
}
