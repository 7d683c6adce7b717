package sync

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"micro.dev/micro/schema"
)

// sweepBatch bounds one sweeper transaction.
const sweepBatch = 1000

// sqliteBackend keeps leases in the micro SQLite file: reads on the read
// pool, every change through the writer, where they are serialised.
type sqliteBackend struct {
	db  *schema.DB
	now func() time.Time
}

func newSQLite(db *schema.DB, now func() time.Time) *sqliteBackend {
	return &sqliteBackend{db: db, now: now}
}

func (b *sqliteBackend) Acquire(ctx context.Context, ns string, l Lease, max int) (Lease, error) {
	err := b.db.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		now := b.now()
		var (
			holder  string
			expires int64
		)
		err := tx.QueryRowContext(ctx, `SELECT holder, expires_at FROM sync_leases WHERE ns = ? AND name = ?`, ns, l.Name).Scan(&holder, &expires)
		switch {
		case err == nil && expires > now.UnixNano():
			return &Held{Holder: holder, Expires: time.Unix(0, expires)}
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return err
		case errors.Is(err, sql.ErrNoRows):
			var live int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sync_leases WHERE ns = ? AND expires_at > ?`, ns, now.UnixNano()).Scan(&live); err != nil {
				return err
			}
			if live >= max {
				return ErrTooMany
			}
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO sync_tokens (ns, last) VALUES (?, 1)
			ON CONFLICT (ns) DO UPDATE SET last = last + 1 RETURNING last`, ns).Scan(&l.Token); err != nil {
			return err
		}
		l.Expires = now.Add(l.TTL)
		_, err = tx.ExecContext(ctx, `INSERT OR REPLACE INTO sync_leases (ns, name, id, holder, token, ttl, acquired_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, ns, l.Name, l.ID, l.Holder, int64(l.Token), int64(l.TTL), now.UnixNano(), l.Expires.UnixNano())
		return err
	})
	return l, err
}

func (b *sqliteBackend) Renew(ctx context.Context, ns, name, id string, ttl time.Duration) (Lease, error) {
	var l Lease
	err := b.db.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		now := b.now()
		var tok, cur int64
		err := tx.QueryRowContext(ctx, `SELECT holder, token, ttl FROM sync_leases WHERE ns = ? AND name = ? AND id = ? AND expires_at > ?`,
			ns, name, id, now.UnixNano()).Scan(&l.Holder, &tok, &cur)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrLost
		}
		if err != nil {
			return err
		}
		if ttl <= 0 {
			ttl = time.Duration(cur)
		}
		l.Name, l.ID, l.Token, l.TTL, l.Expires = name, id, uint64(tok), ttl, now.Add(ttl)
		_, err = tx.ExecContext(ctx, `UPDATE sync_leases SET ttl = ?, expires_at = ? WHERE ns = ? AND name = ?`,
			int64(ttl), l.Expires.UnixNano(), ns, name)
		return err
	})
	return l, err
}

func (b *sqliteBackend) Release(ctx context.Context, ns, name, id string) error {
	return b.db.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM sync_leases WHERE ns = ? AND name = ? AND id = ?`, ns, name, id)
		return err
	})
}

func (b *sqliteBackend) Leases(ctx context.Context, ns string) ([]Lease, error) {
	rows, err := b.db.Read().QueryContext(ctx, `SELECT name, holder, token, ttl, expires_at FROM sync_leases
		WHERE ns = ? AND expires_at > ? ORDER BY name`, ns, b.now().UnixNano())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Lease
	for rows.Next() {
		var (
			l                 Lease
			tok, ttl, expires int64
		)
		if err := rows.Scan(&l.Name, &l.Holder, &tok, &ttl, &expires); err != nil {
			return nil, err
		}
		l.Token, l.TTL, l.Expires = uint64(tok), time.Duration(ttl), time.Unix(0, expires)
		out = append(out, l)
	}
	return out, rows.Err()
}

func (b *sqliteBackend) Sweep(ctx context.Context) (int64, error) {
	var total int64
	for {
		var n int64
		err := b.db.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, `DELETE FROM sync_leases WHERE rowid IN
				(SELECT rowid FROM sync_leases WHERE expires_at <= ? LIMIT ?)`, b.now().UnixNano(), sweepBatch)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, err
		}
		total += n
		if n < sweepBatch {
			return total, nil
		}
	}
}
