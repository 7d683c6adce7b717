package config

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"sort"
	"time"
)

// DefaultChangeRetention is how many of each namespace's newest changes the
// change log keeps for watches to resume from. A watch resuming from an
// older revision gets a 412 and must read the value again.
const DefaultChangeRetention = 1000

// Change is one logged set or delete: the leaves of the range it touched
// (its path, everything under it and its ancestors) before and after it.
type Change struct {
	Revision uint64
	Path     string
	At       time.Time
	Before   []Leaf
	After    []Leaf
}

// imageLeaf is how a leaf is kept in a change image; V of a secret is the
// sealed text, as in config_values.
type imageLeaf struct {
	P string `json:"p"`
	V string `json:"v"`
	S bool   `json:"s,omitempty"`
	K string `json:"k,omitempty"`
}

func encodeImage(leaves []Leaf) (string, error) {
	img := make([]imageLeaf, len(leaves))
	for i, l := range leaves {
		img[i] = imageLeaf{P: l.Path, V: l.Value, S: l.Secret, K: l.KeyID}
	}
	b, err := json.Marshal(img)
	return string(b), err
}

func decodeImage(text string) ([]Leaf, error) {
	var img []imageLeaf
	if err := json.Unmarshal([]byte(text), &img); err != nil {
		return nil, err
	}
	out := make([]Leaf, len(img))
	for i, l := range img {
		out[i] = Leaf{Path: l.P, Value: l.V, Secret: l.S, KeyID: l.K}
	}
	return out, nil
}

// querier is a *sql.DB or *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// leavesIn returns the leaves at or under path (all of ns for "") in path
// order.
func leavesIn(ctx context.Context, q querier, ns, path string) ([]Leaf, error) {
	query := `SELECT path, value, secret, key_id, updated_at FROM config_values WHERE namespace = ? ORDER BY path`
	args := []any{ns}
	if path != "" {
		lo, hi := under(path)
		query = `SELECT path, value, secret, key_id, updated_at FROM config_values
			WHERE namespace = ? AND (path = ? OR (path >= ? AND path < ?)) ORDER BY path`
		args = append(args, path, lo, hi)
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Leaf
	for rows.Next() {
		var (
			l       Leaf
			secret  int64
			updated int64
		)
		if err := rows.Scan(&l.Path, &l.Value, &secret, &l.KeyID, &updated); err != nil {
			return nil, err
		}
		l.Secret, l.Updated = secret == 1, time.Unix(0, updated)
		out = append(out, l)
	}
	return out, rows.Err()
}

// image returns the leaves a change at path can touch: at its ancestors,
// at it and under it.
func image(ctx context.Context, tx *sql.Tx, ns, path string) ([]Leaf, error) {
	var out []Leaf
	if path != "" {
		for _, a := range ancestors(path) {
			l, err := leavesIn(ctx, tx, ns, a)
			if err != nil {
				return nil, err
			}
			for _, x := range l {
				if x.Path == a {
					out = append(out, x)
				}
			}
		}
	}
	l, err := leavesIn(ctx, tx, ns, path)
	return append(out, l...), err
}

// logChange bumps ns's revision and logs the change in tx, pruning what
// falls out of retention; it returns the new revision.
func (b *sqliteBackend) logChange(ctx context.Context, tx *sql.Tx, ns, path string, before, after []Leaf, at int64) (uint64, error) {
	var rev uint64
	if err := tx.QueryRowContext(ctx, `INSERT INTO config_revisions (namespace, revision) VALUES (?, 1)
		ON CONFLICT (namespace) DO UPDATE SET revision = revision + 1 RETURNING revision`, ns).Scan(&rev); err != nil {
		return 0, err
	}
	bt, err := encodeImage(before)
	if err != nil {
		return 0, err
	}
	at2, err := encodeImage(after)
	if err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO config_changes (namespace, revision, path, at, before, after) VALUES (?, ?, ?, ?, ?, ?)`,
		ns, rev, path, at, bt, at2); err != nil {
		return 0, err
	}
	if rev > uint64(b.retain) {
		if _, err := tx.ExecContext(ctx, `DELETE FROM config_changes WHERE namespace = ? AND revision <= ?`, ns, rev-uint64(b.retain)); err != nil {
			return 0, err
		}
	}
	return rev, nil
}

func revisionOf(ctx context.Context, q querier, ns string) (uint64, error) {
	var rev uint64
	err := q.QueryRowContext(ctx, `SELECT revision FROM config_revisions WHERE namespace = ?`, ns).Scan(&rev)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return rev, err
}

func (b *sqliteBackend) Snapshot(ctx context.Context, ns, path string) ([]Leaf, uint64, error) {
	tx, err := b.db.Read().BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, err
	}
	defer tx.Rollback()
	// Reading the revision first opens the transaction's snapshot, so the
	// leaves are exactly those at that revision.
	rev, err := revisionOf(ctx, tx, ns)
	if err != nil {
		return nil, 0, err
	}
	leaves, err := leavesIn(ctx, tx, ns, path)
	return leaves, rev, err
}

func (b *sqliteBackend) Changes(ctx context.Context, ns string, after uint64) (changes []Change, oldest, current uint64, err error) {
	tx, err := b.db.Read().BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, 0, err
	}
	defer tx.Rollback()
	if current, err = revisionOf(ctx, tx, ns); err != nil {
		return nil, 0, 0, err
	}
	var min sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT min(revision) FROM config_changes WHERE namespace = ?`, ns).Scan(&min); err != nil {
		return nil, 0, 0, err
	}
	oldest = current + 1
	if min.Valid {
		oldest = uint64(min.Int64)
	}
	rows, err := tx.QueryContext(ctx, `SELECT revision, path, at, before, after FROM config_changes
		WHERE namespace = ? AND revision > ? ORDER BY revision`, ns, after)
	if err != nil {
		return nil, 0, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			c      Change
			at     int64
			bt, af string
		)
		if err := rows.Scan(&c.Revision, &c.Path, &at, &bt, &af); err != nil {
			return nil, 0, 0, err
		}
		c.At = time.Unix(0, at)
		if c.Before, err = decodeImage(bt); err != nil {
			return nil, 0, 0, err
		}
		if c.After, err = decodeImage(af); err != nil {
			return nil, 0, 0, err
		}
		changes = append(changes, c)
	}
	return changes, oldest, current, rows.Err()
}

// replay rebuilds the leaves at or under path after each change that
// concerns it, starting from current (the leaves now) and undoing changes
// (newest first) back to the revision before the first of them. fn gets
// each concerned change with the leaves after it, in path order.
func replay(path string, current []Leaf, changes []Change, fn func(c Change, leaves []Leaf) error) error {
	state := map[string]Leaf{}
	in := func(p string) bool {
		return path == "" || p == path || (len(p) > len(path) && p[:len(path)+1] == path+".")
	}
	for _, l := range current {
		state[l.Path] = l
	}
	for i := len(changes) - 1; i >= 0; i-- {
		for _, l := range changes[i].After {
			delete(state, l.Path)
		}
		for _, l := range changes[i].Before {
			if in(l.Path) {
				state[l.Path] = l
			}
		}
	}
	for _, c := range changes {
		for _, l := range c.Before {
			delete(state, l.Path)
		}
		for _, l := range c.After {
			if in(l.Path) {
				state[l.Path] = l
			}
		}
		if !overlaps(c.Path, path) {
			continue
		}
		leaves := make([]Leaf, 0, len(state))
		for _, l := range state {
			leaves = append(leaves, l)
		}
		sort.Slice(leaves, func(i, j int) bool { return leaves[i].Path < leaves[j].Path })
		if err := fn(c, leaves); err != nil {
			return err
		}
	}
	return nil
}
