package store

import (
	"context"
	"database/sql"
	"encoding/json"
	stderrors "errors"
	"fmt"
	"math"
	"strings"
	"time"

	"micro.dev/micro/schema"
)

// sweepBatch bounds one sweeper transaction, so a backlog of expired rows
// is deleted in steps that user writes can slip between.
const sweepBatch = 1000

// sqliteBackend keeps records in the store_records table of the micro
// database: queries on the read pool, every change through the group-commit
// writer.
type sqliteBackend struct {
	db     *schema.DB
	now    func() time.Time
	notify Notifier
}

// newSQLite returns a Backend on db, whose migrations must include
// Migrations. now is the clock that decides what has expired; notify gets
// every committed change.
func newSQLite(db *schema.DB, now func() time.Time, notify Notifier) *sqliteBackend {
	return &sqliteBackend{db: db, now: now, notify: notify}
}

// live is the condition that hides expired rows; its argument is now.
const live = `(expires_at IS NULL OR expires_at > ?)`

// upsert writes a record: ?5 is its update time, ?8 its creation time
// (both now, unless a copy keeps the record's own), ?9 now.
const upsert = `INSERT INTO store_records
	(db, tbl, key, expires_at, revision, created_at, updated_at, metadata, value)
	VALUES (?1, ?2, ?3, ?4, 1, ?8, ?5, ?6, ?7)
	ON CONFLICT (db, tbl, key) DO UPDATE SET
		revision   = CASE WHEN expires_at <= ?9 THEN 1 ELSE revision + 1 END,
		created_at = CASE WHEN expires_at <= ?9 THEN excluded.created_at ELSE created_at END,
		expires_at = excluded.expires_at,
		updated_at = excluded.updated_at,
		metadata   = excluded.metadata,
		value      = excluded.value`

// current is the query for a record's revision and expiry inside a write.
const current = `SELECT revision, expires_at FROM store_records WHERE db = ? AND tbl = ? AND key = ?`

// prior reads a record's row inside a write transaction: its revision (0
// when there is no row) and whether that row had expired by now.
// stmt is current prepared outside the transaction (Prepare needs the
// writer connection).
func prior(ctx context.Context, tx *sql.Tx, stmt *sql.Stmt, database, table, key string, now int64) (rev int64, expired bool, err error) {
	var expires sql.NullInt64
	err = tx.StmtContext(ctx, stmt).QueryRowContext(ctx, database, table, key).Scan(&rev, &expires)
	if stderrors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return rev, err == nil && expires.Valid && expires.Int64 <= now, err
}

// checkRevision compares a conditional change's expected revision with the
// record's, an expired record counting as absent.
func checkRevision(ifRevision *int64, rev int64, expired bool) error {
	if expired {
		rev = 0
	}
	if ifRevision != nil && *ifRevision != rev {
		return &RevisionMismatch{Current: rev}
	}
	return nil
}

// notifyAfter runs a write whose TxFunc reserves a sequence number (seq
// non-zero once it did) and hands its changes to the notifier once the
// outcome is known, so watchers see exactly what committed, in order.
func (b *sqliteBackend) notifyAfter(err error, seq *uint64, changes []Change) error {
	if *seq != 0 {
		if err != nil {
			changes = nil
		}
		b.notify.Commit(*seq, changes)
	}
	return err
}

func (b *sqliteBackend) Write(ctx context.Context, database, table string, r Record, ifRevision *int64) (int64, error) {
	revs, err := b.Batch(ctx, database, []Op{{Table: table, Write: &r, IfRevision: ifRevision}})
	if err != nil {
		var bf *BatchFailed
		if stderrors.As(err, &bf) {
			return 0, bf.Err
		}
		return 0, err
	}
	return revs[0], nil
}

func (b *sqliteBackend) Delete(ctx context.Context, database, table, key string, ifRevision *int64) error {
	_, err := b.Batch(ctx, database, []Op{{Table: table, DeleteKey: key, IfRevision: ifRevision}})
	var bf *BatchFailed
	if stderrors.As(err, &bf) {
		return bf.Err
	}
	return err
}

func (b *sqliteBackend) Batch(ctx context.Context, database string, ops []Op) ([]int64, error) {
	nowT := b.now()
	stmt, err := b.db.Prepare(ctx, upsert)
	if err != nil {
		return nil, err
	}
	cur, err := b.db.Prepare(ctx, current)
	if err != nil {
		return nil, err
	}
	var (
		seq     uint64
		changes []Change
		written []int64
	)
	err = b.db.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		changes, written = changes[:0], written[:0]
		for i, op := range ops {
			var (
				ch  []Change
				rev int64
				err error
			)
			if op.Write != nil {
				ch, rev, err = writeTx(ctx, tx, stmt, cur, database, op.Table, *op.Write, op.IfRevision, op.keepTimes, nowT)
			} else {
				ch, err = deleteTx(ctx, tx, cur, database, op.Table, op.DeleteKey, op.IfRevision, nowT.UnixNano())
			}
			if err != nil {
				var mismatch *RevisionMismatch
				if stderrors.As(err, &mismatch) {
					return &BatchFailed{Op: i, Err: err}
				}
				return err
			}
			changes = append(changes, ch...)
			written = append(written, rev)
		}
		if len(changes) > 0 {
			seq = b.notify.Reserve() // last: nothing in this TxFunc fails after it
		}
		return nil
	})
	if err = b.notifyAfter(err, &seq, changes); err != nil {
		return nil, err
	}
	return written, nil
}

// writeTx creates or replaces r inside tx and returns the changes it made
// and the revision written.
func writeTx(ctx context.Context, tx *sql.Tx, stmt, cur *sql.Stmt, database, table string, r Record, ifRevision *int64, keepTimes bool, nowT time.Time) ([]Change, int64, error) {
	meta := []byte("{}")
	if len(r.Metadata) > 0 {
		var err error
		if meta, err = json.Marshal(r.Metadata); err != nil {
			return nil, 0, err
		}
	}
	var expires any
	if !r.ExpiresAt.IsZero() {
		expires = r.ExpiresAt.UnixNano()
	}
	value := r.Value
	if value == nil {
		value = []byte{} // nil binds as NULL
	}
	now := nowT.UnixNano()
	rev, expired, err := prior(ctx, tx, cur, database, table, r.Key, now)
	if err != nil {
		return nil, 0, err
	}
	if err := checkRevision(ifRevision, rev, expired); err != nil {
		return nil, 0, err
	}
	created, updated := nowT, nowT
	if keepTimes && !r.Created.IsZero() {
		created, updated = r.Created, r.Updated
	}
	if _, err := tx.StmtContext(ctx, stmt).ExecContext(ctx, database, table, r.Key, expires, updated.UnixNano(), string(meta), value,
		created.UnixNano(), now); err != nil {
		return nil, 0, err
	}
	rec := r
	rec.Updated = updated
	var changes []Change
	switch {
	case rev == 0:
		rec.Revision, rec.Created = 1, created
		changes = []Change{{Type: ChangeCreate, Database: database, Table: table, Record: rec}}
	case expired:
		rec.Revision, rec.Created = 1, created
		changes = []Change{
			{Type: ChangeExpire, Database: database, Table: table, Record: Record{Key: r.Key, Revision: rev}},
			{Type: ChangeCreate, Database: database, Table: table, Record: rec},
		}
	default:
		rec.Revision = rev + 1
		changes = []Change{{Type: ChangeUpdate, Database: database, Table: table, Record: rec}}
	}
	return changes, rec.Revision, nil
}

// deleteTx removes a record inside tx and returns the change it made, if
// any.
func deleteTx(ctx context.Context, tx *sql.Tx, cur *sql.Stmt, database, table, key string, ifRevision *int64, now int64) ([]Change, error) {
	rev, expired, err := prior(ctx, tx, cur, database, table, key, now)
	if err != nil {
		return nil, err
	}
	if err := checkRevision(ifRevision, rev, expired); err != nil {
		return nil, err
	}
	if rev == 0 {
		return nil, nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM store_records WHERE db = ? AND tbl = ? AND key = ?`, database, table, key); err != nil {
		return nil, err
	}
	typ := ChangeDelete
	if expired {
		// It was already gone to readers; report why it went.
		typ = ChangeExpire
	}
	return []Change{{Type: typ, Database: database, Table: table, Record: Record{Key: key, Revision: rev}}}, nil
}

func (b *sqliteBackend) Read(ctx context.Context, database, table string, q Query) ([]Record, error) {
	query, args := b.selectKeys(`key, expires_at, revision, created_at, updated_at, metadata, value`, database, table, q)
	rows, err := b.db.QueryRead(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var (
			r                Record
			expires          sql.NullInt64
			created, updated int64
			meta             string
		)
		if err := rows.Scan(&r.Key, &expires, &r.Revision, &created, &updated, &meta, &r.Value); err != nil {
			return nil, err
		}
		if expires.Valid {
			r.ExpiresAt = time.Unix(0, expires.Int64)
		}
		r.Created, r.Updated = time.Unix(0, created), time.Unix(0, updated)
		if meta != "{}" {
			if err := json.Unmarshal([]byte(meta), &r.Metadata); err != nil {
				return nil, fmt.Errorf("record %q: metadata: %w", r.Key, err)
			}
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (b *sqliteBackend) List(ctx context.Context, database, table string, q Query) ([]string, error) {
	query, args := b.selectKeys(`key`, database, table, q)
	return b.db.ReadStrings(ctx, query, args...)
}

func (b *sqliteBackend) Databases(ctx context.Context) ([]string, error) {
	return b.db.ReadStrings(ctx, `SELECT DISTINCT db FROM store_records WHERE `+live+` ORDER BY db`, b.now().UnixNano())
}

func (b *sqliteBackend) Tables(ctx context.Context, database string) ([]string, error) {
	return b.db.ReadStrings(ctx, `SELECT DISTINCT tbl FROM store_records WHERE db = ? AND `+live+` ORDER BY tbl`,
		database, b.now().UnixNano())
}

func (b *sqliteBackend) Sweep(ctx context.Context) (int64, error) {
	var total int64
	for {
		now := b.now().UnixNano()
		var (
			seq     uint64
			changes []Change
		)
		err := b.db.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
			changes = changes[:0]
			rows, err := tx.QueryContext(ctx, `DELETE FROM store_records WHERE rowid IN
				(SELECT rowid FROM store_records WHERE expires_at <= ? LIMIT ?)
				RETURNING db, tbl, key, revision`, now, sweepBatch)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				c := Change{Type: ChangeExpire}
				if err := rows.Scan(&c.Database, &c.Table, &c.Record.Key, &c.Record.Revision); err != nil {
					return err
				}
				changes = append(changes, c)
			}
			if err := rows.Err(); err != nil {
				return err
			}
			if len(changes) > 0 {
				seq = b.notify.Reserve()
			}
			return nil
		})
		err = b.notifyAfter(err, &seq, changes)
		n := int64(len(changes))
		if err != nil {
			n = 0
		}
		total += n
		if err != nil || n < sweepBatch {
			return total, err
		}
	}
}

func (b *sqliteBackend) NextExpiry(ctx context.Context) (time.Time, error) {
	var next sql.NullInt64
	err := b.db.Read().QueryRowContext(ctx, `SELECT MIN(expires_at) FROM store_records WHERE expires_at IS NOT NULL`).Scan(&next)
	if err != nil || !next.Valid {
		return time.Time{}, err
	}
	return time.Unix(0, next.Int64), nil
}

// selectKeys builds the query for the live records of database/table that
// q selects, in q's order, returning cols.
func (b *sqliteBackend) selectKeys(cols, database, table string, q Query) (string, []any) {
	var sb strings.Builder
	sb.WriteString("SELECT " + cols + " FROM store_records WHERE db = ? AND tbl = ? AND " + live)
	args := []any{database, table, b.now().UnixNano()}
	switch {
	case q.Key != "":
		sb.WriteString(" AND key = ?")
		args = append(args, q.Key)
	default:
		// A range on the primary key, not LIKE: the index serves it, and
		// % and _ in keys stay literal.
		if q.Prefix != "" {
			sb.WriteString(" AND key >= ?")
			args = append(args, q.Prefix)
			if end, ok := prefixEnd(q.Prefix); ok {
				sb.WriteString(" AND key < ?")
				args = append(args, end)
			}
		}
		// Compared as bytes: substr on text counts characters.
		if q.Suffix != "" {
			sb.WriteString(" AND substr(CAST(key AS BLOB), ?) = ?")
			args = append(args, -len(q.Suffix), []byte(q.Suffix))
		}
	}
	if q.Desc {
		sb.WriteString(" ORDER BY key DESC")
	} else {
		sb.WriteString(" ORDER BY key")
	}
	limit := int64(-1) // SQLite's "no limit"
	if q.Limit > 0 && q.Limit <= math.MaxInt64 {
		limit = int64(q.Limit)
	}
	sb.WriteString(" LIMIT ? OFFSET ?")
	args = append(args, limit, int64(min(q.Offset, math.MaxInt64)))
	return sb.String(), args
}

// prefixEnd returns the least string greater than every string starting
// with p; ok is false when there is none (p is all 0xff bytes).
func prefixEnd(p string) (end string, ok bool) {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}
