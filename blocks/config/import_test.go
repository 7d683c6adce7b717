package config

import (
	"bytes"
	"context"
	"testing"
	"time"

	"micro.dev/micro/internal/natstest"
)

// TestImport copies an appliance's config (a real SQLite file) into the
// config on a real JetStream: values equal and secrets open, whether the
// cluster adopts the file's key (it had none) or seals them again with its
// own; a namespace the cluster holds is kept; a second import copies
// nothing.
func TestImport(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	file := newEnv(t)
	file.set(t, "app", `{"greeting":"hi","db":{"port":5432}}`, false)
	file.set(t, "app.password", `"s3cret"`, true)
	if _, err := file.config.backend.Set(ctx, "shop", "currency", []Leaf{{Path: "currency", Value: `"EUR"`}}, true); err != nil {
		t.Fatal(err)
	}
	fileKey := file.storedSecretKey(t)

	t.Run("adopts the file's key", func(t *testing.T) {
		cluster := newEnv(t, WithJetStream(natstest.Connect(t, natstest.Server(t)), 1))
		if held, err := cluster.config.Held(ctx); err != nil || held != "" {
			t.Fatalf("empty cluster holds %q, %v", held, err)
		}
		copied, kept, err := cluster.config.Import(ctx, file.db)
		if err != nil || copied != 4 || kept != 0 {
			t.Fatalf("import: copied %d kept %d, %v; want 4, 0", copied, kept, err)
		}
		if !bytes.Equal(cluster.storedSecretKey(t), fileKey) {
			t.Fatal("the cluster, which had no key, did not adopt the file's")
		}
		if got := cluster.get(t, "app", true); got != `{"db":{"port":5432},"greeting":"hi","password":"s3cret"}` {
			t.Fatalf("app: %s", got)
		}
		if got := cluster.get(t, "app.password", false); got != Secret {
			t.Fatalf("a secret reads in clear: %s", got)
		}
		if held, err := cluster.config.Held(ctx); err != nil || held == "" {
			t.Fatalf("after import the cluster holds %q, %v", held, err)
		}
		if copied, kept, err := cluster.config.Import(ctx, file.db); err != nil || copied != 0 || kept != 4 {
			t.Fatalf("second import: copied %d kept %d, %v; want 0, 4", copied, kept, err)
		}
	})

	t.Run("seals again with the cluster's key", func(t *testing.T) {
		cluster := newEnv(t, WithJetStream(natstest.Connect(t, natstest.Server(t)), 1))
		// The cluster has its own key, and a namespace of its own.
		if _, err := cluster.config.secrets(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := cluster.config.backend.Set(ctx, "shop", "currency", []Leaf{{Path: "currency", Value: `"USD"`}}, true); err != nil {
			t.Fatal(err)
		}
		copied, kept, err := cluster.config.Import(ctx, file.db)
		if err != nil || copied != 3 || kept != 1 {
			t.Fatalf("import: copied %d kept %d, %v; want 3, 1", copied, kept, err)
		}
		if bytes.Equal(cluster.storedSecretKey(t), fileKey) {
			t.Fatal("the cluster's key was replaced")
		}
		if got := cluster.get(t, "app.password", true); got != `"s3cret"` {
			t.Fatalf("imported secret: %s", got)
		}
		leaves, err := cluster.config.backend.Leaves(ctx, "shop", "")
		if err != nil || len(leaves) != 1 || leaves[0].Value != `"USD"` {
			t.Fatalf("the cluster's namespace was not kept: %+v %v", leaves, err)
		}
	})
}
