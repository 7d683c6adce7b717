package store_test

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"micro.dev/micro/framework/client"
	microerrors "micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/store"
	"micro.dev/micro/node/nodetest"
)

// TestBlobStore: Micro's BlobStore API against a real node: bytes of
// several messages come back whole, options pick the namespace and table,
// and a failed write stores nothing.
func TestBlobStore(t *testing.T) {
	n := nodetest.Start(t)
	c := n.Client(client.Options{Service: "files"})
	b := store.NewBlobStore(c)

	data := bytes.Repeat([]byte("0123456789abcdef"), 20_000) // 320,000 bytes: five messages
	if err := b.Write("photos/cat.jpg", bytes.NewReader(data), store.BlobContentType("image/jpeg")); err != nil {
		t.Fatal(err)
	}
	r, err := b.Read("photos/cat.jpg")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(r); !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, want %d", len(got), len(data))
	}
	if err := b.Write("empty", strings.NewReader("")); err != nil {
		t.Fatal(err)
	}
	if r, err := b.Read("empty"); err != nil {
		t.Fatal(err)
	} else if got, _ := io.ReadAll(r); len(got) != 0 {
		t.Fatalf("empty blob: %q", got)
	}
	if keys, err := b.List(); err != nil || !slices.Equal(keys, []string{"empty", "photos/cat.jpg"}) {
		t.Fatalf("list: %q %v", keys, err)
	}
	if keys, err := b.List(store.BlobListPrefix("photos/")); err != nil || !slices.Equal(keys, []string{"photos/cat.jpg"}) {
		t.Fatalf("list photos/: %q %v", keys, err)
	}

	// Micro's errors.
	if _, err := b.Read("missing"); err != store.ErrNotFound {
		t.Fatalf("read missing: %v", err)
	}
	if _, err := b.Read(""); err != store.ErrMissingKey {
		t.Fatalf("read without key: %v", err)
	}
	if err := b.Write("", strings.NewReader("x")); err != store.ErrMissingKey {
		t.Fatalf("write without key: %v", err)
	}
	if err := b.Delete("missing"); err != nil {
		t.Fatalf("delete missing: %v", err)
	}

	// A reader that fails half-way stores nothing, and says why.
	broken := io.MultiReader(bytes.NewReader(data), &failing{})
	if err := b.Write("broken", broken); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("write from a failing reader: %v", err)
	}
	if _, err := b.Read("broken"); err != store.ErrNotFound {
		t.Fatalf("read after a failed write: %v", err)
	}

	// Another namespace's service writes to its own namespace; the admin
	// of micro reads it there with BlobNamespace, and tables keep apart.
	acme := store.NewBlobStore(n.ServiceAccount("acme", "files"))
	if err := acme.Write("k", strings.NewReader("acme's")); err != nil {
		t.Fatal(err)
	}
	if err := acme.Write("k", strings.NewReader("acme's docs"), store.BlobTable("docs")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Read("k"); err != store.ErrNotFound {
		t.Fatalf("acme's blob seen from micro: %v", err)
	}
	for _, tc := range []struct {
		opts []store.BlobOption
		want string
	}{
		{[]store.BlobOption{store.BlobNamespace("acme")}, "acme's"},
		{[]store.BlobOption{store.BlobNamespace("acme"), store.BlobTable("docs")}, "acme's docs"},
	} {
		r, err := b.Read("k", tc.opts...)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := io.ReadAll(r); string(got) != tc.want {
			t.Errorf("read %d options: %q, want %q", len(tc.opts), got, tc.want)
		}
	}
	if keys, err := b.List(store.BlobListNamespace("acme"), store.BlobListTable("docs")); err != nil || !slices.Equal(keys, []string{"k"}) {
		t.Fatalf("list acme/docs: %q %v", keys, err)
	}
	// acme's service does not administer micro.
	if _, err := acme.Read("photos/cat.jpg", store.BlobNamespace("micro")); microerrors.Code(err) != 403 {
		t.Fatalf("acme reading micro's blob: %v", err)
	}

	if err := b.Delete("photos/cat.jpg"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Read("photos/cat.jpg"); err != store.ErrNotFound {
		t.Fatalf("read after delete: %v", err)
	}
}

type failing struct{}

func (*failing) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

// TestDefaultBlobStore: the package-level blob store calls through the
// service's client, and says so when there is none.
func TestDefaultBlobStore(t *testing.T) {
	if _, err := store.DefaultBlobStore.List(); err != client.ErrNoDefault {
		t.Fatalf("without a service: %v", err)
	}
	n := nodetest.Start(t)
	c := n.Client(client.Options{Service: "files"})
	client.SetDefault(c)
	t.Cleanup(func() { client.ClearDefault(c) })
	if err := store.DefaultBlobStore.Write("k", strings.NewReader("v")); err != nil {
		t.Fatal(err)
	}
	// The same blob through the block client: one blob store per namespace.
	r, err := store.NewBlobStore(c).Read("k")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(r); string(got) != "v" {
		t.Fatalf("read: %q", got)
	}
}
