package model

import (
	"context"
	"strings"

	"micro.dev/micro/framework/errors"
	pb "micro.dev/micro/proto/store"
)

// reindexPage is how many keys Reindex reads at a time.
const reindexPage = 200

// Reindex makes the index entries match the records: it writes the
// entries every record should have under the model's indexes and deletes
// the entries no record has (an index since removed, or left by a crash of
// a program older than Batch). Create, Update and Delete keep entries right
// from then on, so Reindex is for once after adding or removing an index
// on a model that has records. It reports how many entries it wrote and
// deleted. Two records holding one value of a new unique index are a 409
// naming the field; the records are left as they are (entries written
// before it stay, each pointing at a record that holds its value).
func (m *Model[T]) Reindex() (written, deleted int, err error) {
	if m.err != nil {
		return 0, 0, m.err
	}
	ctx := context.Background()
	for offset := uint(0); ; offset += reindexPage {
		recs, err := m.read(ctx, m.recordPrefix(), true, Query{limit: reindexPage, offset: offset})
		if err != nil {
			return written, deleted, err
		}
		for _, r := range recs {
			n, err := m.reindexRecord(ctx, strings.TrimPrefix(r.GetKey(), m.recordPrefix()))
			written += n
			if err != nil {
				return written, deleted, err
			}
		}
		if len(recs) < reindexPage {
			break
		}
	}
	n, err := m.deleteStale(ctx)
	return written, deleted + n, err
}

// reindexRecord writes the entries of one record that are missing, in one
// batch with a rewrite of the record at its revision, so a writer changing
// it meanwhile makes the batch fail and it is done again.
func (m *meta) reindexRecord(ctx context.Context, id string) (int, error) {
	for range conflictRetries {
		cur, err := m.record(ctx, id)
		if err != nil || cur == nil {
			return 0, err
		}
		want, err := m.storedEntries(cur)
		if err != nil {
			return 0, err
		}
		ops := []*pb.BatchOperation{put(m.recordKey(id), cur.value, rev(cur.revision))}
		for key, idx := range want {
			have, err := m.read(ctx, key, false, Query{})
			if err != nil {
				return 0, err
			}
			switch {
			case len(have) == 0 && idx.Unique:
				ops = append(ops, put(key, []byte(id), rev(0)))
			case len(have) == 0:
				ops = append(ops, put(key, []byte(id), nil))
			case string(have[0].GetValue()) != id:
				return 0, errors.Conflict(errID, "%s: records %s and %s have the same %s; a unique index needs them to differ",
					m.name, string(have[0].GetValue()), id, idx.Field)
			}
		}
		if len(ops) == 1 {
			return 0, nil
		}
		conflict, err := m.batch(ctx, ops)
		if err != nil {
			return 0, err
		}
		if !conflict {
			return len(ops) - 1, nil
		}
	}
	return 0, errors.Conflict(errID, "%s %q: changed by other writers %d times while reindexing; try again", m.name, id, conflictRetries)
}

// deleteStale deletes the entries whose record does not have them, each
// conditional on the revision it was read at.
func (m *meta) deleteStale(ctx context.Context) (int, error) {
	type entry struct {
		key string
		rev uint64
	}
	var stale []entry
	for _, kind := range []string{"/i/", "/u/"} {
		prefix := m.name + kind
		for offset := uint(0); ; offset += reindexPage {
			recs, err := m.read(ctx, prefix, true, Query{limit: reindexPage, offset: offset})
			if err != nil {
				return 0, err
			}
			for _, e := range recs {
				ok, err := m.entryHeld(ctx, e.GetKey(), string(e.GetValue()))
				if err != nil {
					return 0, err
				}
				if !ok {
					stale = append(stale, entry{e.GetKey(), e.GetRevision()})
				}
			}
			if len(recs) < reindexPage {
				break
			}
		}
	}
	deleted := 0
	for _, e := range stale {
		// A writer that took the key meanwhile moved its revision: the
		// delete then fails and the entry stays, rightly.
		conflict, err := m.batch(ctx, []*pb.BatchOperation{{DeleteKey: e.key, IfRevision: rev(e.rev)}})
		if err != nil {
			return deleted, err
		}
		if !conflict {
			deleted++
		}
	}
	return deleted, nil
}

// entryHeld reports whether the record id has the index entry key.
func (m *meta) entryHeld(ctx context.Context, key, id string) (bool, error) {
	r, err := m.record(ctx, id)
	if err != nil || r == nil {
		return false, err
	}
	want, err := m.storedEntries(r)
	if err != nil {
		return false, err
	}
	_, ok := want[key]
	return ok, nil
}
