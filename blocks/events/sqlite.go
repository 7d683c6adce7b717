package events

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"micro.dev/micro/schema"
)

// sweepBatch bounds one sweeper transaction, so a backlog of expired events
// is deleted in steps that publishes can slip between.
const sweepBatch = 1000

// sqliteBackend keeps events in the events_* tables of the micro database:
// queries on the read pool, every change through the group-commit writer,
// so concurrent publishes share a transaction and one fsync.
type sqliteBackend struct {
	db       *schema.DB
	now      func() time.Time
	prepared atomic.Pointer[writeStmts] // stmts, once prepared
}

func newSQLite(db *schema.DB, now func() time.Time) *sqliteBackend {
	return &sqliteBackend{db: db, now: now}
}

// The statements of the write paths (publish, a group's save), each
// prepared once on the writer (schema.DB.Prepare): parsed on every
// publish, they were a fifth of its CPU.
const (
	bumpTopicSQL = `UPDATE events_topics
		SET last_seq = last_seq + ?, last_published = max(last_published, ?)
		WHERE namespace = ? AND name = ? RETURNING id, last_seq, last_published`
	createTopicSQL = `INSERT INTO events_topics (namespace, name, last_seq, last_published)
		VALUES (?, ?, ?, ?) RETURNING id`
	insertEventSQL = `INSERT INTO events_events
		(topic_id, seq, id, published_at, timestamp, metadata, payload) VALUES (?, ?, ?, ?, ?, ?, ?)`
	topicIDSQL   = `SELECT id FROM events_topics WHERE namespace = ? AND name = ?`
	saveGroupSQL = `INSERT INTO events_groups (topic_id, name, next_seq, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (topic_id, name) DO UPDATE SET next_seq = excluded.next_seq, updated_at = excluded.updated_at
		RETURNING id`
	removePendingSQL = `DELETE FROM events_pending WHERE group_id = ? AND seq = ?`
	putPendingSQL    = `INSERT INTO events_pending (group_id, seq, id, deliveries, due) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (group_id, seq) DO UPDATE SET deliveries = excluded.deliveries, due = excluded.due`
)

// writeStmts are those statements, for use inside a write as
// tx.StmtContext(ctx, stmt).
type writeStmts struct {
	bumpTopic, createTopic, insertEvent, topicID, saveGroup, removePending, putPending *sql.Stmt
}

// stmts returns the write statements; it must be called outside Write,
// which holds the writer's one connection.
func (b *sqliteBackend) stmts(ctx context.Context) (*writeStmts, error) {
	if st := b.prepared.Load(); st != nil {
		return st, nil
	}
	var st writeStmts
	for _, s := range []struct {
		stmt  **sql.Stmt
		query string
	}{
		{&st.bumpTopic, bumpTopicSQL}, {&st.createTopic, createTopicSQL}, {&st.insertEvent, insertEventSQL},
		{&st.topicID, topicIDSQL}, {&st.saveGroup, saveGroupSQL}, {&st.removePending, removePendingSQL},
		{&st.putPending, putPendingSQL},
	} {
		stmt, err := b.db.Prepare(ctx, s.query)
		if err != nil {
			return nil, err
		}
		*s.stmt = stmt
	}
	b.prepared.Store(&st)
	return &st, nil
}

func (b *sqliteBackend) Append(ctx context.Context, ns, topic string, evs []Event) ([]Event, error) {
	st, err := b.stmts(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Event, len(evs))
	now := b.now().UnixNano()
	err = b.db.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		copy(out, evs)
		return appendTx(ctx, tx, st, ns, topic, out, now)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// appendTx stores evs in tx, setting their Seq and Published.
func appendTx(ctx context.Context, tx *sql.Tx, st *writeStmts, ns, topic string, evs []Event, now int64) error {
	var id, last, published int64
	err := tx.StmtContext(ctx, st.bumpTopic).QueryRowContext(ctx, len(evs), now, ns, topic).Scan(&id, &last, &published)
	if errors.Is(err, sql.ErrNoRows) {
		last, published = int64(len(evs)), now
		err = tx.StmtContext(ctx, st.createTopic).QueryRowContext(ctx, ns, topic, last, published).Scan(&id)
	}
	if err != nil {
		return err
	}
	first := uint64(last) - uint64(len(evs)) + 1
	insert := tx.StmtContext(ctx, st.insertEvent)
	for i := range evs {
		ev := &evs[i]
		ev.Topic, ev.Seq, ev.Published = topic, first+uint64(i), time.Unix(0, published)
		if err := insertEvent(ctx, insert, id, ev); err != nil {
			return err
		}
	}
	return nil
}

// insertEvent stores ev, with its Seq and Published, in topic id.
func insertEvent(ctx context.Context, insert *sql.Stmt, id int64, ev *Event) error {
	meta := "{}"
	if len(ev.Metadata) > 0 {
		b, err := json.Marshal(ev.Metadata)
		if err != nil {
			return err
		}
		meta = string(b)
	}
	payload := ev.Payload
	if payload == nil {
		payload = []byte{} // nil binds as NULL
	}
	_, err := insert.ExecContext(ctx, id, int64(ev.Seq), ev.ID, ev.Published.UnixNano(), ev.Timestamp, meta, payload)
	return err
}

const topicID = `(SELECT id FROM events_topics WHERE namespace = ? AND name = ?)`

func (b *sqliteBackend) Read(ctx context.Context, ns, topic string, q Query) ([]Event, error) {
	var sb strings.Builder
	sb.WriteString(`SELECT seq, id, published_at, timestamp, metadata, payload FROM events_events
		WHERE topic_id = ` + topicID + ` AND published_at >= ?`)
	args := []any{ns, topic, q.NotBefore.UnixNano()}
	if q.Seqs != nil {
		if len(q.Seqs) == 0 {
			return nil, nil
		}
		sb.WriteString(` AND seq IN (?` + strings.Repeat(`, ?`, len(q.Seqs)-1) + `)`)
		for _, s := range q.Seqs {
			args = append(args, int64(s))
		}
	} else {
		sb.WriteString(` AND seq >= ?`)
		args = append(args, int64(q.From))
	}
	sb.WriteString(` ORDER BY seq LIMIT ? OFFSET ?`)
	limit := int64(-1)
	if q.Limit > 0 {
		limit = int64(q.Limit)
	}
	args = append(args, limit, int64(q.Offset))

	rows, err := b.db.Read().QueryContext(ctx, sb.String(), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var (
			ev             Event
			seq, published int64
			meta           string
		)
		if err := rows.Scan(&seq, &ev.ID, &published, &ev.Timestamp, &meta, &ev.Payload); err != nil {
			return nil, err
		}
		ev.Topic, ev.Seq, ev.Published = topic, uint64(seq), time.Unix(0, published)
		if meta != "{}" {
			if err := json.Unmarshal([]byte(meta), &ev.Metadata); err != nil {
				return nil, fmt.Errorf("event %s/%d: metadata: %w", topic, seq, err)
			}
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}

func (b *sqliteBackend) LastSeq(ctx context.Context, ns, topic string) (uint64, error) {
	var last int64
	err := b.db.Read().QueryRowContext(ctx, `SELECT last_seq FROM events_topics WHERE namespace = ? AND name = ?`, ns, topic).Scan(&last)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return uint64(last), err
}

func (b *sqliteBackend) SeqSince(ctx context.Context, ns, topic string, t time.Time) (uint64, error) {
	var id, last int64
	err := b.db.Read().QueryRowContext(ctx, `SELECT id, last_seq FROM events_topics WHERE namespace = ? AND name = ?`, ns, topic).Scan(&id, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return 1, nil
	}
	if err != nil {
		return 0, err
	}
	return seqSince(ctx, b.db.Read(), id, last, t.UnixNano())
}

// querier is what seqSince needs of a *sql.DB or *sql.Tx.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// seqSince binary-searches the topic's retained events, whose publish times
// never decrease with their sequence numbers, for the first published at or
// after t (unix ns); last+1 when none is.
func seqSince(ctx context.Context, q querier, topic, last, t int64) (uint64, error) {
	var first sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT min(seq) FROM events_events WHERE topic_id = ?`, topic).Scan(&first); err != nil {
		return 0, err
	}
	if !first.Valid {
		return uint64(last) + 1, nil
	}
	lo, hi := first.Int64, last+1 // the answer is in [lo, hi]
	for lo < hi {
		mid := lo + (hi-lo)/2
		var published int64
		err := q.QueryRowContext(ctx, `SELECT published_at FROM events_events WHERE topic_id = ? AND seq = ?`, topic, mid).Scan(&published)
		if errors.Is(err, sql.ErrNoRows) {
			// Swept since min(seq) was read: everything up to mid is gone.
			lo = mid + 1
			continue
		}
		if err != nil {
			return 0, err
		}
		if published >= t {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return uint64(lo), nil
}

func (b *sqliteBackend) LoadGroup(ctx context.Context, ns, topic, group string) (GroupState, bool, error) {
	var (
		g        GroupState
		id, next int64
	)
	err := b.db.Read().QueryRowContext(ctx, `SELECT g.id, g.next_seq FROM events_groups g
		WHERE g.topic_id = `+topicID+` AND g.name = ?`, ns, topic, group).Scan(&id, &next)
	if errors.Is(err, sql.ErrNoRows) {
		return g, false, nil
	}
	if err != nil {
		return g, false, err
	}
	g.Next = uint64(next)
	rows, err := b.db.Read().QueryContext(ctx, `SELECT seq, id, deliveries, due FROM events_pending WHERE group_id = ? ORDER BY seq`, id)
	if err != nil {
		return g, false, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			p        Pending
			seq, due int64
		)
		if err := rows.Scan(&seq, &p.ID, &p.Deliveries, &due); err != nil {
			return g, false, err
		}
		p.Seq, p.Due = uint64(seq), time.Unix(0, due)
		g.Pending = append(g.Pending, p)
	}
	return g, true, rows.Err()
}

func (b *sqliteBackend) SaveGroup(ctx context.Context, ns, topic, group string, c GroupChange) ([]Event, uint64, error) {
	st, err := b.stmts(ctx)
	if err != nil {
		return nil, 0, err
	}
	dead := make([]Event, len(c.Dead))
	now := b.now().UnixNano()
	err = b.db.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		tid, err := ensureTopic(ctx, tx, st, ns, topic)
		if err != nil {
			return err
		}
		var gid int64
		if err := tx.StmtContext(ctx, st.saveGroup).QueryRowContext(ctx, tid, group, int64(c.Next), now).Scan(&gid); err != nil {
			return err
		}
		if len(c.Remove) > 0 {
			remove := tx.StmtContext(ctx, st.removePending)
			for _, seq := range c.Remove {
				if _, err := remove.ExecContext(ctx, gid, int64(seq)); err != nil {
					return err
				}
			}
		}
		if len(c.Put) > 0 {
			put := tx.StmtContext(ctx, st.putPending)
			for _, p := range c.Put {
				if _, err := put.ExecContext(ctx, gid, int64(p.Seq), p.ID, p.Deliveries, p.Due.UnixNano()); err != nil {
					return err
				}
			}
		}
		if len(c.Dead) > 0 {
			copy(dead, c.Dead)
			return appendTx(ctx, tx, st, ns, c.DeadTopic, dead, now)
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return dead, 0, nil
}

// putTopic writes a topic copied from elsewhere: its retention (0: none),
// last number and last publish time (unix ns) as they stood there, and
// evs with their own numbers and times.
func (b *sqliteBackend) putTopic(ctx context.Context, ns, topic string, retention time.Duration, last uint64, published int64, evs []Event) error {
	st, err := b.stmts(ctx)
	if err != nil {
		return err
	}
	var keep any
	if retention > 0 {
		keep = int64(retention)
	}
	return b.db.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		id, err := ensureTopic(ctx, tx, st, ns, topic)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE events_topics SET last_seq = ?, last_published = ?, retention = ? WHERE id = ?`,
			int64(last), published, keep, id); err != nil {
			return err
		}
		insert := tx.StmtContext(ctx, st.insertEvent)
		for i := range evs {
			if err := insertEvent(ctx, insert, id, &evs[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// ensureTopic returns the id of a topic, creating it empty if needed.
func ensureTopic(ctx context.Context, tx *sql.Tx, st *writeStmts, ns, topic string) (int64, error) {
	var id int64
	err := tx.StmtContext(ctx, st.topicID).QueryRowContext(ctx, ns, topic).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		err = tx.QueryRowContext(ctx, `INSERT INTO events_topics (namespace, name) VALUES (?, ?) RETURNING id`, ns, topic).Scan(&id)
	}
	return id, err
}

func (b *sqliteBackend) Topics(ctx context.Context, ns string) ([]TopicInfo, error) {
	rows, err := b.db.Read().QueryContext(ctx, `SELECT t.name, t.last_seq, t.retention,
			(SELECT min(seq) FROM events_events e WHERE e.topic_id = t.id),
			(SELECT group_concat(name, char(10)) FROM (SELECT name FROM events_groups g WHERE g.topic_id = t.id ORDER BY name))
		FROM events_topics t WHERE t.namespace = ? ORDER BY t.name`, ns)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []TopicInfo
	for rows.Next() {
		var (
			t         TopicInfo
			last      int64
			retention sql.NullInt64
			first     sql.NullInt64
			groups    sql.NullString
		)
		if err := rows.Scan(&t.Name, &last, &retention, &first, &groups); err != nil {
			return nil, err
		}
		t.Last, t.First = uint64(last), uint64(last)+1
		if first.Valid {
			t.First = uint64(first.Int64)
		}
		t.Retention = time.Duration(retention.Int64)
		if groups.Valid && groups.String != "" {
			t.Groups = strings.Split(groups.String, "\n")
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func (b *sqliteBackend) Retention(ctx context.Context, ns, topic string) (time.Duration, error) {
	var retention sql.NullInt64
	err := b.db.Read().QueryRowContext(ctx, `SELECT retention FROM events_topics WHERE namespace = ? AND name = ?`, ns, topic).Scan(&retention)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return time.Duration(retention.Int64), err
}

func (b *sqliteBackend) SetRetention(ctx context.Context, ns, topic string, d time.Duration) error {
	var retention any
	if d > 0 {
		retention = int64(d)
	}
	st, err := b.stmts(ctx)
	if err != nil {
		return err
	}
	return b.db.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := ensureTopic(ctx, tx, st, ns, topic); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE events_topics SET retention = ? WHERE namespace = ? AND name = ?`, retention, ns, topic)
		return err
	})
}

func (b *sqliteBackend) Sweep(ctx context.Context, now time.Time, def time.Duration) (int64, error) {
	type topicRow struct{ id, last, retention int64 }
	rows, err := b.db.Read().QueryContext(ctx, `SELECT id, last_seq, coalesce(retention, ?) FROM events_topics`, int64(def))
	if err != nil {
		return 0, err
	}
	var topics []topicRow
	for rows.Next() {
		var t topicRow
		if err := rows.Scan(&t.id, &t.last, &t.retention); err != nil {
			rows.Close()
			return 0, err
		}
		topics = append(topics, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	var total int64
	for _, t := range topics {
		cutoff := now.Add(-time.Duration(t.retention)).UnixNano()
		keep, err := seqSince(ctx, b.db.Read(), t.id, t.last, cutoff)
		if err != nil {
			return total, err
		}
		for {
			var n int64
			err := b.db.Write(ctx, func(ctx context.Context, tx *sql.Tx) error {
				res, err := tx.ExecContext(ctx, `DELETE FROM events_events WHERE topic_id = ? AND seq < ?
					AND seq < (SELECT min(seq) FROM events_events WHERE topic_id = ?) + ?`, t.id, int64(keep), t.id, sweepBatch)
				if err != nil {
					return err
				}
				if n, err = res.RowsAffected(); err != nil {
					return err
				}
				if n > 0 {
					_, err = tx.ExecContext(ctx, `DELETE FROM events_pending WHERE seq < ? AND group_id IN
						(SELECT id FROM events_groups WHERE topic_id = ?)`, int64(keep), t.id)
				}
				return err
			})
			total += n
			if err != nil {
				return total, err
			}
			if n == 0 {
				break
			}
		}
	}
	return total, nil
}
