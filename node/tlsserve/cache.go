package tlsserve

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/acme/autocert"

	"micro.dev/micro/schema"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations is the schema of the certificate cache; pass it to schema.Open.
var Migrations = schema.Embedded("tls", migrationFiles)

// maxCacheEntry bounds one cached item: a certificate chain with its key is
// a few kilobytes; anything near this is not one.
const maxCacheEntry = 1 << 20

// Cache is an autocert.Cache kept in the database's tls_cache table.
type Cache struct {
	db *schema.DB
}

// NewCache returns the cache on db, which must have been opened with
// Migrations.
func NewCache(db *schema.DB) *Cache { return &Cache{db: db} }

var _ autocert.Cache = (*Cache)(nil)

// Get returns the item named name, or autocert.ErrCacheMiss.
func (c *Cache) Get(ctx context.Context, name string) ([]byte, error) {
	var data []byte
	switch err := c.db.Read().QueryRowContext(ctx, `SELECT data FROM tls_cache WHERE name = ?`, name).Scan(&data); {
	case errors.Is(err, sql.ErrNoRows):
		return nil, autocert.ErrCacheMiss
	case err != nil:
		return nil, fmt.Errorf("tls cache: reading %s: %w", name, err)
	}
	return data, nil
}

// Put stores data under name, replacing what was there.
func (c *Cache) Put(ctx context.Context, name string, data []byte) error {
	if len(data) > maxCacheEntry {
		return fmt.Errorf("tls cache: %s is %d bytes, more than the %d a certificate needs", name, len(data), maxCacheEntry)
	}
	now := time.Now().Unix()
	return c.db.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO tls_cache (name, data, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at`, name, data, now)
		return err
	})
}

// Delete removes the item named name; a missing one is not an error.
func (c *Cache) Delete(ctx context.Context, name string) error {
	return c.db.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM tls_cache WHERE name = ?`, name)
		return err
	})
}
