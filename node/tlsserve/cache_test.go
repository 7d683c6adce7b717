package tlsserve

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/acme/autocert"

	"micro.dev/micro/schema"
)

// TestCacheSurvivesReopen: what autocert keeps is in the database file, so
// a copy of the file (or a restart) carries it.
func TestCacheSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "micro.db")
	open := func() *schema.DB {
		db, err := schema.Open(ctx, path, schema.Options{Migrations: []schema.Migrations{Migrations}})
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
	db := open()
	c := NewCache(db)
	if _, err := c.Get(ctx, "api.example.com"); !errors.Is(err, autocert.ErrCacheMiss) {
		t.Fatalf("empty cache: %v", err)
	}
	if err := c.Put(ctx, "api.example.com", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := c.Put(ctx, "api.example.com", []byte("two")); err != nil {
		t.Fatal(err)
	}
	if err := c.Put(ctx, "acme_account+key", []byte("account")); err != nil {
		t.Fatal(err)
	}
	if err := c.Put(ctx, "huge", make([]byte, maxCacheEntry+1)); err == nil {
		t.Fatal("an oversized entry was stored")
	}
	db.Close()

	db = open()
	defer db.Close()
	c = NewCache(db)
	if got, err := c.Get(ctx, "api.example.com"); err != nil || string(got) != "two" {
		t.Fatalf("after reopen: %q, %v", got, err)
	}
	if err := c.Delete(ctx, "api.example.com"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "api.example.com"); err != nil {
		t.Fatalf("deleting a missing entry: %v", err)
	}
	if _, err := c.Get(ctx, "api.example.com"); !errors.Is(err, autocert.ErrCacheMiss) {
		t.Fatalf("after delete: %v", err)
	}
	if got, err := c.Get(ctx, "acme_account+key"); err != nil || string(got) != "account" {
		t.Fatalf("account key: %q, %v", got, err)
	}
}

func TestRedirect(t *testing.T) {
	for _, c := range []struct {
		port, host, target, want string
		code                     int
	}{
		{"443", "api.example.com", "/a/b?c=d", "https://api.example.com/a/b?c=d", http.StatusPermanentRedirect},
		{"", "api.example.com:80", "/", "https://api.example.com/", http.StatusPermanentRedirect},
		{"8443", "api.example.com", "/x", "https://api.example.com:8443/x", http.StatusPermanentRedirect},
		{"443", "[::1]:80", "/", "https://[::1]/", http.StatusPermanentRedirect},
		{"443", "evil.example/@x", "/", "", http.StatusBadRequest},
	} {
		r := httptest.NewRequest("POST", c.target, nil)
		r.Host = c.host
		w := httptest.NewRecorder()
		Redirect(c.port).ServeHTTP(w, r)
		if w.Code != c.code || w.Header().Get("Location") != c.want {
			t.Errorf("%s%s to port %q: %d %q, want %d %q", c.host, c.target, c.port, w.Code, w.Header().Get("Location"), c.code, c.want)
		}
	}
}
