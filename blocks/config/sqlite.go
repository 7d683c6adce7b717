package config

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"micro.dev/micro/schema"
)

// sqliteBackend keeps the tree in the config_values table of the micro
// database: reads on the read pool, every change through the group-commit
// writer.
type sqliteBackend struct {
	db     *schema.DB
	now    func() time.Time
	retain int // changes kept per namespace in config_changes
}

func newSQLite(db *schema.DB, now func() time.Time, retain int) *sqliteBackend {
	return &sqliteBackend{db: db, now: now, retain: retain}
}

func (b *sqliteBackend) Leaves(ctx context.Context, ns, path string) ([]Leaf, error) {
	return leavesIn(ctx, b.db.Read(), ns, path)
}

func (b *sqliteBackend) Exists(ctx context.Context, ns string) (bool, error) {
	var one int
	err := b.db.Read().QueryRowContext(ctx, `SELECT 1 FROM config_values WHERE namespace = ? LIMIT 1`, ns).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

func (b *sqliteBackend) Set(ctx context.Context, ns, path string, leaves []Leaf, replace bool) (uint64, error) {
	now := b.now().UnixNano()
	var rev uint64
	err := b.db.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		before, err := image(ctx, tx, ns, path)
		if err != nil {
			return err
		}
		// Above path: only empty objects may be in the way; they go.
		for _, a := range ancestors(path) {
			var (
				value  string
				secret int
			)
			err := tx.QueryRowContext(ctx, `SELECT value, secret FROM config_values WHERE namespace = ? AND path = ?`, ns, a).Scan(&value, &secret)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			if secret == 1 || value != emptyObject {
				return &ScalarError{Path: a}
			}
			if err := deleteAt(ctx, tx, ns, a); err != nil {
				return err
			}
		}
		if replace {
			if err := deleteTree(ctx, tx, ns, path); err != nil {
				return err
			}
		}
		for _, l := range leaves {
			if !replace {
				// The leaf turns values between path and itself into
				// objects, and itself into a leaf.
				for _, a := range ancestors(l.Path) {
					if len(a) >= len(path) {
						if err := deleteAt(ctx, tx, ns, a); err != nil {
							return err
						}
					}
				}
				if l.Value == emptyObject && !l.Secret {
					// Merging {} into an object changes nothing.
					var one int
					lo, hi := under(l.Path)
					err := tx.QueryRowContext(ctx, `SELECT 1 FROM config_values WHERE namespace = ? AND path >= ? AND path < ? LIMIT 1`,
						ns, lo, hi).Scan(&one)
					if err == nil {
						continue
					}
					if !errors.Is(err, sql.ErrNoRows) {
						return err
					}
				} else if err := deleteUnder(ctx, tx, ns, l.Path); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO config_values (namespace, path, secret, key_id, updated_at, value)
				VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT (namespace, path) DO UPDATE SET
					secret = excluded.secret, key_id = excluded.key_id,
					updated_at = excluded.updated_at, value = excluded.value`,
				ns, l.Path, boolInt(l.Secret), l.KeyID, now, l.Value); err != nil {
				return err
			}
		}
		after, err := image(ctx, tx, ns, path)
		if err != nil {
			return err
		}
		rev, err = b.logChange(ctx, tx, ns, path, before, after, now)
		return err
	})
	return rev, err
}

func (b *sqliteBackend) Delete(ctx context.Context, ns, path string) (uint64, error) {
	var rev uint64
	err := b.db.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		before, err := image(ctx, tx, ns, path)
		if err != nil {
			return err
		}
		var res sql.Result
		if path == "" {
			res, err = tx.ExecContext(ctx, `DELETE FROM config_values WHERE namespace = ?`, ns)
		} else {
			lo, hi := under(path)
			res, err = tx.ExecContext(ctx, `DELETE FROM config_values WHERE namespace = ? AND (path = ? OR (path >= ? AND path < ?))`,
				ns, path, lo, hi)
		}
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil || n == 0 {
			return err
		}
		after, err := image(ctx, tx, ns, path)
		if err != nil {
			return err
		}
		rev, err = b.logChange(ctx, tx, ns, path, before, after, b.now().UnixNano())
		return err
	})
	return rev, err
}

func (b *sqliteBackend) SecretKey(ctx context.Context, generate func() ([]byte, error)) ([]byte, error) {
	var key []byte
	err := b.db.Read().QueryRowContext(ctx, `SELECT key FROM config_keys WHERE name = 'secret'`).Scan(&key)
	if err == nil {
		return key, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	fresh, err := generate()
	if err != nil {
		return nil, err
	}
	err = b.db.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO config_keys (name, key, created_at) VALUES ('secret', ?, ?)
			ON CONFLICT (name) DO NOTHING`, fresh, b.now().UnixNano()); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT key FROM config_keys WHERE name = 'secret'`).Scan(&key)
	})
	return key, err
}

func deleteAt(ctx context.Context, tx *sql.Tx, ns, path string) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM config_values WHERE namespace = ? AND path = ?`, ns, path)
	return err
}

func deleteUnder(ctx context.Context, tx *sql.Tx, ns, path string) error {
	lo, hi := under(path)
	_, err := tx.ExecContext(ctx, `DELETE FROM config_values WHERE namespace = ? AND path >= ? AND path < ?`, ns, lo, hi)
	return err
}

func deleteTree(ctx context.Context, tx *sql.Tx, ns, path string) error {
	if err := deleteAt(ctx, tx, ns, path); err != nil {
		return err
	}
	return deleteUnder(ctx, tx, ns, path)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
