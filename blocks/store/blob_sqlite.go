package store

import (
	"context"
	"database/sql"
	stderrors "errors"
	"io"
	"time"

	"micro.dev/micro/schema"
)

// purgeBatch bounds the chunks one purge transaction deletes, so deleting
// a large blob is steps that other writes slip between.
const purgeBatch = 16

// blobSQLite keeps blobs in the store_blob* tables of the micro database.
type blobSQLite struct {
	db  *schema.DB
	now func() time.Time
}

func newBlobSQLite(db *schema.DB, now func() time.Time) *blobSQLite {
	return &blobSQLite{db: db, now: now}
}

func (b *blobSQLite) Create(ctx context.Context, database, table, key string, info BlobInfo) (BlobWriter, error) {
	w := &blobUpload{b: b, database: database, table: table, key: key, info: info}
	err := b.db.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO store_blob_uploads (state, started_at) VALUES ('writing', ?) RETURNING id`,
			b.now().UnixNano()).Scan(&w.id)
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

// blobUpload is an upload in progress: chunks numbered from 0.
type blobUpload struct {
	b                    *blobSQLite
	database, table, key string
	info                 BlobInfo
	id                   int64
	next                 int64
	size                 int64
}

func (w *blobUpload) Write(ctx context.Context, chunk []byte) error {
	seq := w.next
	err := w.b.db.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO store_blob_chunks (upload, seq, data) VALUES (?, ?, ?)`, w.id, seq, chunk)
		return err
	})
	if err == nil {
		w.next++
		w.size += int64(len(chunk))
	}
	return err
}

func (w *blobUpload) Commit(ctx context.Context) error {
	database, table, key, info := w.database, w.table, w.key, w.info
	now := w.b.now().UnixNano()
	created, updated := now, now
	if info.keepTimes && !info.Created.IsZero() {
		created, updated = info.Created.UnixNano(), info.Updated.UnixNano()
	}
	return w.b.db.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var old int64
		err := tx.QueryRowContext(ctx, `SELECT upload FROM store_blobs WHERE db = ? AND tbl = ? AND key = ?`, database, table, key).Scan(&old)
		if err != nil && !stderrors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO store_blobs
			(db, tbl, key, upload, size, chunks, content_type, public, created_at, updated_at)
			VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
			ON CONFLICT (db, tbl, key) DO UPDATE SET
				upload = excluded.upload, size = excluded.size, chunks = excluded.chunks,
				content_type = excluded.content_type, public = excluded.public, updated_at = excluded.updated_at,
				created_at = CASE WHEN ?11 THEN excluded.created_at ELSE created_at END`,
			database, table, key, w.id, w.size, w.next, info.ContentType, info.Public, created, updated, info.keepTimes); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE store_blob_uploads SET state = 'live' WHERE id = ?`, w.id); err != nil {
			return err
		}
		return markDead(ctx, tx, old)
	})
}

func (w *blobUpload) Abort(ctx context.Context) error {
	return w.b.db.Write(schema.Freeing(ctx), func(ctx context.Context, tx *sql.Tx) error {
		return markDead(ctx, tx, w.id)
	})
}

// markDead leaves an upload's chunks to Purge; id 0 is none.
func markDead(ctx context.Context, tx *sql.Tx, id int64) error {
	if id == 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, `UPDATE store_blob_uploads SET state = 'dead' WHERE id = ?`, id)
	return err
}

func (b *blobSQLite) Open(ctx context.Context, database, table, key string) (BlobReader, error) {
	r := &blobReader{b: b}
	var created, updated int64
	err := b.db.Read().QueryRowContext(ctx, `SELECT upload, chunks, size, content_type, public, created_at, updated_at
		FROM store_blobs WHERE db = ? AND tbl = ? AND key = ?`, database, table, key).
		Scan(&r.upload, &r.chunks, &r.info.Size, &r.info.ContentType, &r.info.Public, &created, &updated)
	if stderrors.Is(err, sql.ErrNoRows) {
		return nil, ErrBlobNotFound
	}
	if err != nil {
		return nil, err
	}
	r.info.Created, r.info.Updated = time.Unix(0, created), time.Unix(0, updated)
	return r, nil
}

// blobReader reads chunk by chunk, each in a query of its own: a slow
// reader holds no read transaction open (which would keep the WAL from
// being checkpointed), and a chunk purged meanwhile says the blob changed.
type blobReader struct {
	b              *blobSQLite
	upload, chunks int64
	next           int64
	info           BlobInfo
}

func (r *blobReader) Info() BlobInfo { return r.info }

func (r *blobReader) Next(ctx context.Context) ([]byte, error) {
	if r.next >= r.chunks {
		return nil, io.EOF
	}
	var data []byte
	err := r.b.db.Read().QueryRowContext(ctx, `SELECT c.data FROM store_blob_chunks c
		JOIN store_blob_uploads u ON u.id = c.upload AND u.state = 'live'
		WHERE c.upload = ? AND c.seq = ?`, r.upload, r.next).Scan(&data)
	if stderrors.Is(err, sql.ErrNoRows) {
		return nil, ErrBlobChanged
	}
	if err != nil {
		return nil, err
	}
	r.next++
	return data, nil
}

func (b *blobSQLite) Delete(ctx context.Context, database, table, key string) (bool, error) {
	found := false
	err := b.db.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var upload int64
		err := tx.QueryRowContext(ctx, `DELETE FROM store_blobs WHERE db = ? AND tbl = ? AND key = ? RETURNING upload`,
			database, table, key).Scan(&upload)
		if stderrors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		return markDead(ctx, tx, upload)
	})
	return found, err
}

func (b *blobSQLite) List(ctx context.Context, database, table, prefix string) ([]string, error) {
	query := `SELECT key FROM store_blobs WHERE db = ? AND tbl = ?`
	args := []any{database, table}
	if prefix != "" {
		// A range on the primary key, as the store's List: % and _ stay literal.
		query += ` AND key >= ?`
		args = append(args, prefix)
		if end, ok := prefixEnd(prefix); ok {
			query += ` AND key < ?`
			args = append(args, end)
		}
	}
	return b.db.ReadStrings(ctx, query+` ORDER BY key`, args...)
}

func (b *blobSQLite) Abandon(ctx context.Context) error {
	return b.db.Write(schema.Freeing(ctx), func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE store_blob_uploads SET state = 'dead' WHERE state = 'writing'`)
		return err
	})
}

func (b *blobSQLite) Purge(ctx context.Context) (int64, error) {
	// Looked for on the read pool first: the sweeper and every blob
	// write call Purge, and mostly there is nothing to take the writer for.
	var dead bool
	if err := b.db.Read().QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM store_blob_uploads WHERE state = 'dead')`).Scan(&dead); err != nil || !dead {
		return 0, err
	}
	ctx = schema.Freeing(ctx) // it frees space: it runs when the disk is full
	var total int64
	for {
		var n int64
		err := b.db.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
			var id int64
			err := tx.QueryRowContext(ctx, `SELECT id FROM store_blob_uploads WHERE state = 'dead' LIMIT 1`).Scan(&id)
			if stderrors.Is(err, sql.ErrNoRows) {
				n = -1
				return nil
			}
			if err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, `DELETE FROM store_blob_chunks WHERE upload = ?1 AND seq IN
				(SELECT seq FROM store_blob_chunks WHERE upload = ?1 ORDER BY seq LIMIT ?2)`, id, purgeBatch)
			if err != nil {
				return err
			}
			if n, err = res.RowsAffected(); err != nil {
				return err
			}
			if n == 0 {
				_, err = tx.ExecContext(ctx, `DELETE FROM store_blob_uploads WHERE id = ?`, id)
			}
			return err
		})
		switch {
		case err != nil:
			return total, err
		case n < 0:
			return total, nil
		}
		total += n
	}
}

// blobTable is a database's table holding blobs.
type blobTable struct{ database, table string }

// tables returns the tables holding a blob, in order.
func (b *blobSQLite) tables(ctx context.Context) ([]blobTable, error) {
	rows, err := b.db.Read().QueryContext(ctx, `SELECT DISTINCT db, tbl FROM store_blobs ORDER BY db, tbl`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []blobTable
	for rows.Next() {
		var t blobTable
		if err := rows.Scan(&t.database, &t.table); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}
