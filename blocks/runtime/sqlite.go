package runtime

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"time"

	"micro.dev/micro/schema"
)

// sqliteBackend keeps the runtime's state in the runtime_* tables of the
// micro database: queries on the read pool, every change through the
// group-commit writer.
type sqliteBackend struct {
	db  *schema.DB
	now func() time.Time
}

func newSQLite(db *schema.DB, now func() time.Time) *sqliteBackend {
	return &sqliteBackend{db: db, now: now}
}

const serviceCols = `namespace, name, version, kind, source, ref, entrypoint, env, watch, status, metadata, created_at, updated_at`

func (b *sqliteBackend) PutService(ctx context.Context, s Service) error {
	env, err := json.Marshal(nonNil(s.Env))
	if err != nil {
		return err
	}
	md, err := json.Marshal(nonNilMap(s.Metadata))
	if err != nil {
		return err
	}
	now := b.now().UnixNano()
	return b.db.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO runtime_services (`+serviceCols+`)
			VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)
			ON CONFLICT (namespace, name, version) DO UPDATE SET
				kind = excluded.kind, source = excluded.source, ref = excluded.ref,
				entrypoint = excluded.entrypoint, env = excluded.env, watch = excluded.watch,
				status = excluded.status, metadata = excluded.metadata, updated_at = excluded.updated_at`,
			s.Namespace, s.Name, s.Version, string(s.Kind), s.Source, s.Ref, s.Entrypoint,
			string(env), boolInt(s.Watch), int64(s.Status), string(md), now)
		return err
	})
}

func (b *sqliteBackend) GetService(ctx context.Context, k Key) (Service, bool, error) {
	rows, err := b.db.Read().QueryContext(ctx, `SELECT `+serviceCols+` FROM runtime_services
		WHERE namespace = ? AND name = ? AND version = ?`, k.Namespace, k.Name, k.Version)
	if err != nil {
		return Service{}, false, err
	}
	svcs, err := scanServices(rows)
	if err != nil || len(svcs) == 0 {
		return Service{}, false, err
	}
	return svcs[0], true, nil
}

func (b *sqliteBackend) ListServices(ctx context.Context, namespace string) ([]Service, error) {
	q := `SELECT ` + serviceCols + ` FROM runtime_services`
	var args []any
	if namespace != "" {
		q += ` WHERE namespace = ?`
		args = append(args, namespace)
	}
	rows, err := b.db.Read().QueryContext(ctx, q+` ORDER BY namespace, name, version`, args...)
	if err != nil {
		return nil, err
	}
	return scanServices(rows)
}

func scanServices(rows *sql.Rows) ([]Service, error) {
	defer rows.Close()
	var out []Service
	for rows.Next() {
		var (
			s                Service
			kind, env, md    string
			watch, status    int64
			created, updated int64
		)
		if err := rows.Scan(&s.Namespace, &s.Name, &s.Version, &kind, &s.Source, &s.Ref, &s.Entrypoint,
			&env, &watch, &status, &md, &created, &updated); err != nil {
			return nil, err
		}
		s.Kind, s.Watch, s.Status = SourceKind(kind), watch != 0, Status(status)
		s.Created, s.Updated = time.Unix(0, created), time.Unix(0, updated)
		if err := json.Unmarshal([]byte(env), &s.Env); err != nil {
			return nil, fmt.Errorf("service %s: env: %w", s.Key, err)
		}
		if err := json.Unmarshal([]byte(md), &s.Metadata); err != nil {
			return nil, fmt.Errorf("service %s: metadata: %w", s.Key, err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func (b *sqliteBackend) DeleteService(ctx context.Context, k Key) error {
	return b.db.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for _, table := range []string{"runtime_services", "runtime_sources", "runtime_logs"} {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE namespace = ? AND name = ? AND version = ?`,
				k.Namespace, k.Name, k.Version); err != nil {
				return err
			}
		}
		return nil
	})
}

func (b *sqliteBackend) SetStatus(ctx context.Context, k Key, status Status, md map[string]string) error {
	now := b.now().UnixNano()
	return b.db.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var cur string
		err := tx.QueryRowContext(ctx, `SELECT metadata FROM runtime_services WHERE namespace = ? AND name = ? AND version = ?`,
			k.Namespace, k.Name, k.Version).Scan(&cur)
		if err == sql.ErrNoRows {
			return nil
		}
		if err != nil {
			return err
		}
		merged := map[string]string{}
		if err := json.Unmarshal([]byte(cur), &merged); err != nil || merged == nil {
			merged = map[string]string{}
		}
		for key, v := range md {
			if v == "" {
				delete(merged, key)
			} else {
				merged[key] = v
			}
		}
		out, err := json.Marshal(merged)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE runtime_services SET status = ?, metadata = ?, updated_at = ?
			WHERE namespace = ? AND name = ? AND version = ?`, int64(status), string(out), now, k.Namespace, k.Name, k.Version)
		return err
	})
}

func (b *sqliteBackend) PutSource(ctx context.Context, k Key, data []byte) error {
	now := b.now().UnixNano()
	return b.db.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO runtime_sources (namespace, name, version, updated_at, data)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (namespace, name, version) DO UPDATE SET
			updated_at = excluded.updated_at, data = excluded.data`, k.Namespace, k.Name, k.Version, now, nonNil(data))
		return err
	})
}

func (b *sqliteBackend) GetSource(ctx context.Context, k Key) ([]byte, bool, error) {
	var data []byte
	err := b.db.Read().QueryRowContext(ctx, `SELECT data FROM runtime_sources WHERE namespace = ? AND name = ? AND version = ?`,
		k.Namespace, k.Name, k.Version).Scan(&data)
	if err == sql.ErrNoRows {
		return nil, false, nil
	}
	return data, err == nil, err
}

func (b *sqliteBackend) AppendLogs(ctx context.Context, k Key, lines []LogLine, limit LogCap) error {
	if len(lines) == 0 {
		return nil
	}
	err := b.db.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO runtime_logs (namespace, name, version, ts, stream, instance, message, bytes)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		// Only the newest limit.Lines lines of a batch can survive the cap.
		if limit.Lines > 0 && len(lines) > limit.Lines {
			lines = lines[len(lines)-limit.Lines:]
		}
		for _, l := range lines {
			if _, err := stmt.ExecContext(ctx, k.Namespace, k.Name, k.Version, l.Time.UnixNano(), l.Stream, l.Instance, l.Message, l.size()); err != nil {
				return err
			}
		}
		return trimLogs(ctx, tx, k, limit, b.now())
	})
	if errors.Is(err, schema.ErrDiskFull) {
		// The lines are lost, but the cap still applies to what is kept:
		// trimming frees space, so it runs on a full disk (Freeing).
		if terr := b.db.Write(schema.Freeing(ctx), func(ctx context.Context, tx *sql.Tx) error {
			return trimLogs(ctx, tx, k, limit, b.now())
		}); terr != nil {
			return errors.Join(err, terr)
		}
	}
	return err
}

// trimLogs drops k's oldest lines beyond cap: every line up to the newest
// one that is past the line count, the size or the age. It reads the
// (namespace, name, version, id, ts, bytes) index only, newest first.
func trimLogs(ctx context.Context, tx *sql.Tx, k Key, limit LogCap, now time.Time) error {
	lines, size, before := int64(math.MaxInt64), int64(math.MaxInt64), int64(math.MinInt64)
	if limit.Lines > 0 {
		lines = int64(limit.Lines)
	}
	if limit.Bytes > 0 {
		size = limit.Bytes
	}
	if limit.Age > 0 {
		before = now.Add(-limit.Age).UnixNano()
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM runtime_logs WHERE namespace = ?1 AND name = ?2 AND version = ?3
		AND id <= (SELECT max(id) FROM (
			SELECT id, ts, row_number() OVER w AS n, sum(bytes) OVER w AS total
			FROM runtime_logs WHERE namespace = ?1 AND name = ?2 AND version = ?3
			WINDOW w AS (ORDER BY id DESC))
		WHERE n > ?4 OR total > ?5 OR ts < ?6)`,
		k.Namespace, k.Name, k.Version, lines, size, before)
	return err
}

func (b *sqliteBackend) ReadLogs(ctx context.Context, k Key, q LogQuery) ([]LogLine, error) {
	query := `SELECT id, ts, stream, instance, message FROM runtime_logs
		WHERE namespace = ? AND name = ? AND version = ? AND id > ?`
	args := []any{k.Namespace, k.Name, k.Version, q.AfterID}
	if !q.Since.IsZero() {
		query += ` AND ts >= ?`
		args = append(args, q.Since.UnixNano())
	}
	if q.Last > 0 {
		query = `SELECT * FROM (` + query + ` ORDER BY id DESC LIMIT ?) ORDER BY id`
		args = append(args, q.Last)
	} else {
		query += ` ORDER BY id`
	}
	rows, err := b.db.Read().QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []LogLine
	for rows.Next() {
		var (
			l  LogLine
			ts int64
		)
		if err := rows.Scan(&l.ID, &ts, &l.Stream, &l.Instance, &l.Message); err != nil {
			return nil, err
		}
		l.Time = time.Unix(0, ts)
		out = append(out, l)
	}
	return out, rows.Err()
}

func (b *sqliteBackend) AddProcess(ctx context.Context, p Process) error {
	return b.db.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO runtime_processes (pgid, instance, namespace, name, version, started_at)
			VALUES (?, ?, ?, ?, ?, ?)`, p.PGID, p.Instance, p.Namespace, p.Name, p.Version, p.Started.UnixNano())
		return err
	})
}

func (b *sqliteBackend) RemoveProcess(ctx context.Context, pgid int) error {
	return b.db.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM runtime_processes WHERE pgid = ?`, pgid)
		return err
	})
}

func (b *sqliteBackend) Processes(ctx context.Context) ([]Process, error) {
	rows, err := b.db.Read().QueryContext(ctx, `SELECT pgid, instance, namespace, name, version, started_at FROM runtime_processes ORDER BY pgid`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Process
	for rows.Next() {
		var (
			p       Process
			started int64
		)
		if err := rows.Scan(&p.PGID, &p.Instance, &p.Namespace, &p.Name, &p.Version, &started); err != nil {
			return nil, err
		}
		p.Started = time.Unix(0, started)
		out = append(out, p)
	}
	return out, rows.Err()
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// nonNil returns s, or an empty slice for nil: nil binds as NULL and
// encodes as JSON null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return maps.Clone(m)
}
