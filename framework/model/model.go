// Package model keeps Go values in the store with indexes, as Micro's
// model does:
//
//	type User struct {
//		ID    string `json:"id"`
//		Email string `json:"email"`
//	}
//	users := model.New(User{}, model.Indexes(model.Unique("email")))
//	err := users.Create(User{ID: "1", Email: "a@b.c"})
//	var u User
//	err = users.Read(model.QueryEquals("email", "a@b.c"), &u) // one key read, not a scan
//	var all []User
//	err = users.List(model.QueryEquals("email", "").Limit(20), &all) // every user by email
//
// A record and its index entries are written in one store Batch (one
// transaction), so a crash never leaves an index entry without its record
// or a record without its entries. A unique index refuses a second record
// with the same value (a 409). Records live in the service's store table
// (model.Table changes it) under keys that start with the type's name.
package model

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"micro.dev/micro/framework/client"
	"micro.dev/micro/framework/errors"
)

const errID = "go.micro.model"

// ErrNotFound is what Read returns when no record matches; it is a 404.
var ErrNotFound = errors.NotFound(errID, "not found")

// Index is an index on a field, by its Go or JSON name.
type Index struct {
	Field string
	// Unique refuses two records with the same value.
	Unique bool
}

// ByEquality indexes a field for QueryEquals.
func ByEquality(field string) Index { return Index{Field: field} }

// Unique indexes a field for QueryEquals and refuses a second record with
// the same value.
func Unique(field string) Index { return Index{Field: field, Unique: true} }

// Option configures New.
type Option func(*options)

type options struct {
	indexes         []Index
	key             string
	database, table string
	name            string
	client          client.Client
}

// Indexes adds indexes.
func Indexes(idx ...Index) Option { return func(o *options) { o.indexes = append(o.indexes, idx...) } }

// Key names the field holding a record's id; default the field called ID
// or tagged json:"id". It must be a string.
func Key(field string) Option { return func(o *options) { o.key = field } }

// Table stores the records in table instead of the service's own.
func Table(table string) Option { return func(o *options) { o.table = table } }

// Database stores the records in database instead of the service's
// namespace.
func Database(db string) Option { return func(o *options) { o.database = db } }

// Name is the prefix of the model's keys; default the type's name in
// lower case.
func Name(name string) Option { return func(o *options) { o.name = name } }

// WithClient calls the store through c instead of the service's client.
func WithClient(c client.Client) Option { return func(o *options) { o.client = c } }

// Model is a store-backed collection of T.
type Model[T any] struct {
	meta
	err error // a problem with New's arguments, returned by every call
}

// meta is what a model knows of its type and where it keeps it.
type meta struct {
	name     string
	typ      reflect.Type
	key      int            // field index of the id
	indexes  []Index        // with Field as the JSON name
	fields   map[string]int // by index Field: the struct field
	database string
	table    string
	client   client.Client
}

// New returns the model of T (v is a T, for its type) with opts. Problems
// with the type or the options (no id field, an index on a field that does
// not exist or cannot be indexed) are returned by every call.
func New[T any](v T, opts ...Option) *Model[T] {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	m := &Model[T]{}
	m.err = m.meta.init(reflect.TypeOf(v), o)
	return m
}

func (m *meta) init(t reflect.Type, o options) error {
	if t == nil || t.Kind() != reflect.Struct {
		return errors.BadRequest(errID, "model of %v: the type must be a struct", t)
	}
	m.typ, m.database, m.table, m.client = t, o.database, o.table, o.client
	m.name = o.name
	if m.name == "" {
		m.name = strings.ToLower(t.Name())
	}
	if m.name == "" || strings.Contains(m.name, "/") {
		return errors.BadRequest(errID, "model name %q: give a name without '/' (model.Name)", m.name)
	}
	key := o.key
	if key == "" {
		key = "id"
	}
	var ok bool
	if m.key, ok = field(t, key); !ok || t.Field(m.key).Type.Kind() != reflect.String {
		return errors.BadRequest(errID, "model %s: no string field %q for the id (model.Key names another)", m.name, key)
	}
	m.fields = map[string]int{}
	for _, idx := range o.indexes {
		i, ok := field(t, idx.Field)
		if !ok {
			return errors.BadRequest(errID, "model %s: index on %q: no such field", m.name, idx.Field)
		}
		if !indexable(t.Field(i).Type) {
			return errors.BadRequest(errID, "model %s: index on %q: a %s cannot be indexed: index strings, integers or bools",
				m.name, idx.Field, t.Field(i).Type)
		}
		idx.Field = jsonName(t.Field(i))
		if _, dup := m.fields[idx.Field]; dup {
			return errors.BadRequest(errID, "model %s: field %q is indexed twice", m.name, idx.Field)
		}
		m.fields[idx.Field] = i
		m.indexes = append(m.indexes, idx)
	}
	return nil
}

// field finds a top-level exported field by Go name or JSON name, ignoring
// case.
func field(t reflect.Type, name string) (int, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.IsExported() && (strings.EqualFold(f.Name, name) || strings.EqualFold(jsonName(f), name)) {
			return i, true
		}
	}
	return 0, false
}

func jsonName(f reflect.StructField) string {
	if tag, _, _ := strings.Cut(f.Tag.Get("json"), ","); tag != "" && tag != "-" {
		return tag
	}
	return f.Name
}

// Order is the order List returns records in.
type Order int

// Orders.
const (
	Asc Order = iota
	Desc
)

// Query selects records by a field's value. A zero value (QueryEquals
// with "" or 0) selects every record, in the order of that field: a list
// of the whole index, as in Micro.
type Query struct {
	Field  string
	Value  any
	Order  Order
	all    bool // QueryAll: Delete takes it to mean every record
	limit  uint
	offset uint
}

// QueryEquals selects the records whose field equals value; the field must
// be the id or indexed. A zero value selects all, ordered by the field.
func QueryEquals(field string, value any) Query { return Query{Field: field, Value: value} }

// QueryByID selects the record with the id.
func QueryByID(id string) Query { return Query{Value: id} }

// QueryAll selects every record, by id.
func QueryAll() Query { return Query{all: true} }

// Desc returns q in descending order.
func (q Query) Desc() Query { q.Order = Desc; return q }

// Limit returns q returning at most n records (0: no limit).
func (q Query) Limit(n uint) Query { q.limit = n; return q }

// Offset returns q skipping the first n records.
func (q Query) Offset(n uint) Query { q.offset = n; return q }

func (m *meta) scope() (client.Client, string, string, error) {
	c := m.client
	if c == nil {
		var err error
		if c, err = client.DefaultOrError(); err != nil {
			return nil, "", "", err
		}
	}
	db, table := m.database, m.table
	if db == "" {
		db = client.NamespaceOf(c)
	}
	if table == "" {
		table = client.ServiceNameOf(c)
	}
	return c, db, table, nil
}

func (m *meta) id(v reflect.Value) string { return v.Field(m.key).String() }

// entries are the index keys of a record.
func (m *meta) entries(v reflect.Value) (map[string]Index, error) {
	id := m.id(v)
	out := make(map[string]Index, len(m.indexes))
	for _, idx := range m.indexes {
		enc, err := encode(v.Field(m.fields[idx.Field]))
		if err != nil {
			return nil, err
		}
		out[m.indexKey(idx, enc, id)] = idx
	}
	return out, nil
}

func (m *Model[T]) check(v any) (reflect.Value, error) {
	if m.err != nil {
		return reflect.Value{}, m.err
	}
	rv := reflect.ValueOf(v)
	if m.id(rv) == "" {
		return reflect.Value{}, errors.BadRequest(errID, "%s: the id is empty", m.name)
	}
	if strings.ContainsAny(m.id(rv), "\x00\x01") {
		return reflect.Value{}, errors.BadRequest(errID, "%s: the id %q holds a control byte 0x00 or 0x01", m.name, m.id(rv))
	}
	return rv, nil
}

// Create stores a new record. An id that exists, or a value a unique
// index already holds, is a 409 and nothing is written.
func (m *Model[T]) Create(v T) error {
	rv, err := m.check(v)
	if err != nil {
		return err
	}
	return m.create(context.Background(), rv)
}

// Update replaces the record with v's id (a 404 if there is none),
// moving its index entries in the same transaction. A value a unique index
// holds for another record is a 409.
func (m *Model[T]) Update(v T) error {
	rv, err := m.check(v)
	if err != nil {
		return err
	}
	return m.update(context.Background(), rv)
}

// Read sets *out to the first record q selects, or returns ErrNotFound.
func (m *Model[T]) Read(q Query, out *T) error {
	if m.err != nil {
		return m.err
	}
	q.limit = 1
	recs, err := m.find(context.Background(), q)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return ErrNotFound
	}
	return json.Unmarshal(recs[0].value, out)
}

// List sets *out to the records q selects, in its order, limit and offset.
func (m *Model[T]) List(q Query, out *[]T) error {
	if m.err != nil {
		return m.err
	}
	recs, err := m.find(context.Background(), q)
	if err != nil {
		return err
	}
	list := make([]T, len(recs))
	for i, r := range recs {
		if err := json.Unmarshal(r.value, &list[i]); err != nil {
			return fmt.Errorf("%s record %s: %w", m.name, r.id, err)
		}
	}
	*out = list
	return nil
}

// Delete removes the records q selects with their index entries; none is
// not an error. A query with a zero value is refused: QueryAll deletes
// every record.
func (m *Model[T]) Delete(q Query) error {
	if m.err != nil {
		return m.err
	}
	if !q.all && (q.Value == nil || reflect.ValueOf(q.Value).IsZero()) {
		return errors.BadRequest(errID, "%s: Delete needs a value to match; model.QueryAll() deletes every record", m.name)
	}
	recs, err := m.find(context.Background(), q)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if err := m.remove(context.Background(), r.id); err != nil {
			return err
		}
	}
	return nil
}
