package model

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"

	"micro.dev/micro/framework/errors"
	pb "micro.dev/micro/proto/store"
)

// conflictRetries bounds how often an update or delete that raced another
// writer of the same record is tried again.
const conflictRetries = 8

type stored struct {
	id       string
	value    []byte
	revision uint64
}

func (m *meta) read(ctx context.Context, key string, prefix bool, q Query) ([]*pb.Record, error) {
	c, db, table, err := m.scope()
	if err != nil {
		return nil, err
	}
	o := &pb.ReadOptions{Database: db, Table: table, Prefix: prefix, Limit: uint64(q.limit), Offset: uint64(q.offset)}
	if q.Order == Desc {
		o.Order = "desc"
	}
	rsp := new(pb.ReadResponse)
	if err := c.Call(ctx, c.NewRequest("store", "Store.Read", &pb.ReadRequest{Key: key, Options: o}), rsp); err != nil {
		if errors.Code(err) == 404 {
			return nil, nil
		}
		return nil, err
	}
	return rsp.GetRecords(), nil
}

// record reads the record with id; nil when there is none.
func (m *meta) record(ctx context.Context, id string) (*stored, error) {
	recs, err := m.read(ctx, m.recordKey(id), false, Query{})
	if err != nil || len(recs) == 0 {
		return nil, err
	}
	return &stored{id: id, value: recs[0].GetValue(), revision: recs[0].GetRevision()}, nil
}

// find returns the records q selects: by id, a range of the records; by an
// indexed field, a key or range of its index, then each record by id.
func (m *meta) find(ctx context.Context, q Query) ([]*stored, error) {
	zero := q.Value == nil || reflect.ValueOf(q.Value).IsZero()
	if q.Field == "" || strings.EqualFold(q.Field, m.typ.Field(m.key).Name) || strings.EqualFold(q.Field, jsonName(m.typ.Field(m.key))) {
		if !zero {
			id, ok := q.Value.(string)
			if !ok {
				return nil, errors.BadRequest(errID, "%s: the id is a string, not a %T", m.name, q.Value)
			}
			r, err := m.record(ctx, id)
			if r == nil || err != nil {
				return nil, err
			}
			return []*stored{r}, nil
		}
		recs, err := m.read(ctx, m.recordPrefix(), true, q)
		if err != nil {
			return nil, err
		}
		out := make([]*stored, len(recs))
		for i, r := range recs {
			out[i] = &stored{id: strings.TrimPrefix(r.GetKey(), m.recordPrefix()), value: r.GetValue(), revision: r.GetRevision()}
		}
		return out, nil
	}
	idx, ok := m.index(q.Field)
	if !ok {
		return nil, errors.BadRequest(errID, "%s: field %q is not indexed; query the id or add model.ByEquality(%q)", m.name, q.Field, q.Field)
	}
	var value string
	if !zero {
		fv := reflect.ValueOf(q.Value)
		ft := m.typ.Field(m.fields[idx.Field]).Type
		if !fv.Type().ConvertibleTo(ft) || fv.Kind() == reflect.String && ft.Kind() != reflect.String {
			return nil, errors.BadRequest(errID, "%s: field %q holds a %s, not a %T", m.name, q.Field, ft, q.Value)
		}
		var err error
		if value, err = encode(fv.Convert(ft)); err != nil {
			return nil, errors.BadRequest(errID, "%s: %v", m.name, err)
		}
	}
	entries, err := m.read(ctx, m.indexPrefix(idx, value, !zero), zero || !idx.Unique, q)
	if err != nil {
		return nil, err
	}
	out := make([]*stored, 0, len(entries))
	for _, e := range entries {
		r, err := m.record(ctx, string(e.GetValue()))
		if err != nil {
			return nil, err
		}
		if r != nil { // deleted between the two reads
			out = append(out, r)
		}
	}
	return out, nil
}

func (m *meta) index(name string) (Index, bool) {
	for _, idx := range m.indexes {
		f := m.typ.Field(m.fields[idx.Field])
		if strings.EqualFold(name, idx.Field) || strings.EqualFold(name, f.Name) {
			return idx, true
		}
	}
	return Index{}, false
}

// batch applies ops in one transaction; a revision that did not match is
// reported as conflict true.
func (m *meta) batch(ctx context.Context, ops []*pb.BatchOperation) (conflict bool, err error) {
	c, db, table, err := m.scope()
	if err != nil {
		return false, err
	}
	for _, op := range ops {
		op.Table = table
	}
	err = c.Call(ctx, c.NewRequest("store", "Store.Batch", &pb.BatchRequest{Database: db, Operations: ops}), new(pb.BatchResponse))
	if errors.Code(err) == 412 {
		return true, nil
	}
	return false, err
}

func put(key string, value []byte, ifRevision *uint64) *pb.BatchOperation {
	return &pb.BatchOperation{Record: &pb.Record{Key: key, Value: value}, IfRevision: ifRevision}
}

func del(key string) *pb.BatchOperation { return &pb.BatchOperation{DeleteKey: key} }

func rev(r uint64) *uint64 { return &r }

func (m *meta) create(ctx context.Context, rv reflect.Value) error {
	id := m.id(rv)
	value, err := json.Marshal(rv.Interface())
	if err != nil {
		return err
	}
	entries, err := m.entries(rv)
	if err != nil {
		return err
	}
	ops := []*pb.BatchOperation{put(m.recordKey(id), value, rev(0))}
	for key, idx := range entries {
		var ifRev *uint64
		if idx.Unique {
			ifRev = rev(0)
		}
		ops = append(ops, put(key, []byte(id), ifRev))
	}
	conflict, err := m.batch(ctx, ops)
	if err != nil || !conflict {
		return err
	}
	if r, err := m.record(ctx, id); err != nil {
		return err
	} else if r != nil {
		return errors.Conflict(errID, "%s %q exists", m.name, id)
	}
	return m.taken(ctx, entries, id)
}

// taken names the unique value another record holds, after a batch that
// did not apply.
func (m *meta) taken(ctx context.Context, entries map[string]Index, id string) error {
	for key, idx := range entries {
		if !idx.Unique {
			continue
		}
		recs, err := m.read(ctx, key, false, Query{})
		if err != nil {
			return err
		}
		if len(recs) > 0 && string(recs[0].GetValue()) != id {
			return errors.Conflict(errID, "%s: another record has this %s", m.name, idx.Field)
		}
	}
	return errors.Conflict(errID, "%s %q: changed by another writer; try again", m.name, id)
}

func (m *meta) update(ctx context.Context, rv reflect.Value) error {
	id := m.id(rv)
	value, err := json.Marshal(rv.Interface())
	if err != nil {
		return err
	}
	next, err := m.entries(rv)
	if err != nil {
		return err
	}
	for range conflictRetries {
		cur, err := m.record(ctx, id)
		if err != nil {
			return err
		}
		if cur == nil {
			return errors.NotFound(errID, "%s %q not found", m.name, id)
		}
		prev, err := m.storedEntries(cur)
		if err != nil {
			return err
		}
		ops := []*pb.BatchOperation{put(m.recordKey(id), value, rev(cur.revision))}
		for key := range prev {
			if _, keep := next[key]; !keep {
				ops = append(ops, del(key))
			}
		}
		for key, idx := range next {
			if _, had := prev[key]; had {
				continue
			}
			var ifRev *uint64
			if idx.Unique {
				ifRev = rev(0)
			}
			ops = append(ops, put(key, []byte(id), ifRev))
		}
		conflict, err := m.batch(ctx, ops)
		if err != nil || !conflict {
			return err
		}
		if now, err := m.record(ctx, id); err != nil {
			return err
		} else if now != nil && now.revision == cur.revision {
			// The record did not move: a unique value is another's.
			return m.taken(ctx, next, id)
		}
	}
	return errors.Conflict(errID, "%s %q: changed by other writers %d times; try again", m.name, id, conflictRetries)
}

// storedEntries are the index keys of a stored record.
func (m *meta) storedEntries(r *stored) (map[string]Index, error) {
	v := reflect.New(m.typ)
	if err := json.Unmarshal(r.value, v.Interface()); err != nil {
		return nil, errors.InternalServerError(errID, "%s record %q: %v", m.name, r.id, err)
	}
	return m.entries(v.Elem())
}

func (m *meta) remove(ctx context.Context, id string) error {
	for range conflictRetries {
		cur, err := m.record(ctx, id)
		if err != nil || cur == nil {
			return err
		}
		prev, err := m.storedEntries(cur)
		if err != nil {
			return err
		}
		ops := []*pb.BatchOperation{{DeleteKey: m.recordKey(id), IfRevision: rev(cur.revision)}}
		for key := range prev {
			ops = append(ops, del(key))
		}
		conflict, err := m.batch(ctx, ops)
		if err != nil || !conflict {
			return err
		}
	}
	return errors.Conflict(errID, "%s %q: changed by other writers %d times; try again", m.name, id, conflictRetries)
}
