// Package store is the store block's client for services: a key-value store
// whose records live in the server's SQLite file.
//
// Inside a service the package-level functions use the service's client
// (installed by service.New) with Micro's defaults: the database is the
// service's namespace (MICRO_NAMESPACE, else "micro") and the table is the
// service's name, so each service has a table of its own.
//
//	store.Write(&store.Record{Key: "greeting", Value: []byte("hello")})
//	recs, err := store.Read("greeting")           // store.ErrNotFound when missing
//	keys, err := store.List(store.ListPrefix("gr"))
//
// NewStore builds one over any client, with other defaults (tests, several
// servers, another table).
package store

import (
	"context"
	"encoding/json"
	"io"
	"reflect"
	"strconv"
	"sync/atomic"
	"time"

	"micro.dev/micro/framework/client"
	"micro.dev/micro/framework/errors"
	pb "micro.dev/micro/proto/store"
)

const errID = "go.micro.store"

// ErrNotFound is what Read returns for a key that is missing or expired;
// it is a micro 404.
var ErrNotFound = errors.NotFound(errID, "not found")

// Record is one key and its value.
type Record struct {
	Key   string `json:"key"`
	Value []byte `json:"value"`
	// Metadata holds strings, bools, numbers, or anything JSON encodes.
	Metadata map[string]any `json:"metadata"`
	// Expiry is how long the record lives from the write (rounded up to
	// whole seconds, the store's unit); 0 means forever. Read reports the
	// time left.
	Expiry time.Duration `json:"expiry,omitempty"`
	// Revision is set by Read: 1 when the record was created, one more on
	// every write (on a cluster's JetStream store: a sequence number that
	// grows with every write, by more than one). WriteIfRevision and
	// DeleteIfRevision compare against it: take it from a read.
	Revision uint64 `json:"revision,omitempty"`
}

// Store is Micro's framework store interface.
type Store interface {
	// Read returns the record with the key, or with ReadPrefix or
	// ReadSuffix every record whose key starts or ends with it.
	Read(key string, opts ...ReadOption) ([]*Record, error)
	// Write creates or replaces a record.
	Write(r *Record, opts ...WriteOption) error
	// Delete removes a record; deleting a missing key succeeds.
	Delete(key string, opts ...DeleteOption) error
	// List returns the keys of a table.
	List(opts ...ListOption) ([]string, error)
}

// rpcStore calls the store block.
type rpcStore struct {
	c    client.Client
	opts Options
}

// NewStore returns a Store calling the store block through c. The database
// defaults to c's namespace and the table to c's service name (see
// client.NamespaceOf and client.ServiceNameOf).
func NewStore(c client.Client, opts ...Option) Store {
	o := Options{Database: client.NamespaceOf(c), Table: client.ServiceNameOf(c)}
	for _, opt := range opts {
		opt(&o)
	}
	return &rpcStore{c: c, opts: o}
}

func (s *rpcStore) scope(database, table string) (string, string) {
	if database == "" {
		database = s.opts.Database
	}
	if table == "" {
		table = s.opts.Table
	}
	return database, table
}

func (s *rpcStore) call(endpoint string, req, rsp any) error {
	ctx := s.opts.Context
	if ctx == nil {
		ctx = context.Background()
	}
	return s.c.Call(ctx, s.c.NewRequest("store", endpoint, req), rsp)
}

func (s *rpcStore) Read(key string, opts ...ReadOption) ([]*Record, error) {
	var o ReadOptions
	for _, opt := range opts {
		opt(&o)
	}
	db, table := s.scope(o.Database, o.Table)
	req := &pb.ReadRequest{Key: key, Options: &pb.ReadOptions{Database: db, Table: table, Prefix: o.Prefix,
		Suffix: o.Suffix, Limit: uint64(o.Limit), Offset: uint64(o.Offset), Order: string(o.Order)}}
	rsp := new(pb.ReadResponse)
	if err := s.call("Store.Read", req, rsp); err != nil {
		if errors.Code(err) == 404 {
			return nil, ErrNotFound
		}
		return nil, err
	}
	recs := make([]*Record, len(rsp.GetRecords()))
	for i, r := range rsp.GetRecords() {
		recs[i] = &Record{Key: r.GetKey(), Value: r.GetValue(), Expiry: time.Duration(r.GetExpiry()) * time.Second,
			Metadata: decodeMetadata(r.GetMetadata()), Revision: r.GetRevision()}
	}
	return recs, nil
}

func (s *rpcStore) Write(r *Record, opts ...WriteOption) error {
	if r == nil {
		return errors.BadRequest(errID, "record is required")
	}
	var o WriteOptions
	for _, opt := range opts {
		opt(&o)
	}
	ttl := r.Expiry
	switch {
	case !o.Expiry.IsZero():
		if ttl = time.Until(o.Expiry); ttl <= 0 {
			return errors.BadRequest(errID, "expiry %s is in the past", o.Expiry.Format(time.RFC3339))
		}
	case o.TTL != 0:
		ttl = o.TTL
	}
	if ttl < 0 {
		return errors.BadRequest(errID, "expiry %s is negative; 0 means the record never expires", ttl)
	}
	md, err := encodeMetadata(r.Metadata)
	if err != nil {
		return err
	}
	db, table := s.scope(o.Database, o.Table)
	req := &pb.WriteRequest{
		// Rounded up, so a short expiry never becomes 0 (forever).
		Record:  &pb.Record{Key: r.Key, Value: r.Value, Expiry: int64((ttl + time.Second - 1) / time.Second), Metadata: md},
		Options: &pb.WriteOptions{Database: db, Table: table, IfRevision: o.IfRevision},
	}
	return s.call("Store.Write", req, new(pb.WriteResponse))
}

func (s *rpcStore) Delete(key string, opts ...DeleteOption) error {
	var o DeleteOptions
	for _, opt := range opts {
		opt(&o)
	}
	db, table := s.scope(o.Database, o.Table)
	req := &pb.DeleteRequest{Key: key, Options: &pb.DeleteOptions{Database: db, Table: table, IfRevision: o.IfRevision}}
	return s.call("Store.Delete", req, new(pb.DeleteResponse))
}

func (s *rpcStore) List(opts ...ListOption) ([]string, error) {
	var o ListOptions
	for _, opt := range opts {
		opt(&o)
	}
	db, table := s.scope(o.Database, o.Table)
	req := &pb.ListRequest{Options: &pb.ListOptions{Database: db, Table: table, Prefix: o.Prefix, Suffix: o.Suffix,
		Limit: uint64(o.Limit), Offset: uint64(o.Offset), Order: string(o.Order)}}
	// List is a server stream (one message, as Micro sends it); bound it
	// as a unary call would be.
	st, err := s.c.Stream(context.Background(), s.c.NewRequest("store", "Store.List", req),
		client.WithRequestTimeout(client.DefaultRequestTimeout))
	if err != nil {
		return nil, err
	}
	defer st.Close()
	if err := st.Send(req); err != nil && err != io.EOF {
		return nil, err
	}
	st.CloseSend()
	var keys []string
	for {
		rsp := new(pb.ListResponse)
		if err := st.Recv(rsp); err == io.EOF {
			return keys, nil
		} else if err != nil {
			return nil, err
		}
		keys = append(keys, rsp.GetKeys()...)
	}
}

// encodeMetadata writes metadata as the store's typed text fields: Go's
// basic types by name ("string", "bool", "int64", "float64", ...) with
// their text, anything else as "json".
func encodeMetadata(md map[string]any) (map[string]*pb.Field, error) {
	if len(md) == 0 {
		return nil, nil
	}
	out := make(map[string]*pb.Field, len(md))
	for k, v := range md {
		switch rv := reflect.ValueOf(v); rv.Kind() {
		case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
			if rv.Type().PkgPath() == "" { // not a named type such as time.Duration
				out[k] = &pb.Field{Type: rv.Kind().String(), Value: basicText(rv)}
				continue
			}
			fallthrough
		default:
			b, err := json.Marshal(v)
			if err != nil {
				return nil, errors.BadRequest(errID, "metadata %q: %v", k, err)
			}
			out[k] = &pb.Field{Type: "json", Value: string(b)}
		}
	}
	return out, nil
}

func basicText(v reflect.Value) string {
	switch v.Kind() {
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Float32:
		return strconv.FormatFloat(v.Float(), 'g', -1, 32)
	case reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10)
	}
	return strconv.FormatInt(v.Int(), 10)
}

// decodeMetadata reads fields back into the types encodeMetadata wrote; a
// field of another type, or whose text does not parse, reads as its text.
func decodeMetadata(md map[string]*pb.Field) map[string]any {
	if len(md) == 0 {
		return nil
	}
	out := make(map[string]any, len(md))
	for k, f := range md {
		out[k] = decodeField(f.GetType(), f.GetValue())
	}
	return out
}

func decodeField(typ, text string) any {
	bits := map[string]int{"int": 0, "int8": 8, "int16": 16, "int32": 32, "int64": 64,
		"uint": 0, "uint8": 8, "uint16": 16, "uint32": 32, "uint64": 64, "float32": 32, "float64": 64}
	switch typ {
	case "string", "":
		return text
	case "bool":
		if b, err := strconv.ParseBool(text); err == nil {
			return b
		}
	case "int", "int8", "int16", "int32", "int64":
		if n, err := strconv.ParseInt(text, 10, bits[typ]); err == nil {
			return reflect.ValueOf(n).Convert(basicTypes[typ]).Interface()
		}
	case "uint", "uint8", "uint16", "uint32", "uint64":
		if n, err := strconv.ParseUint(text, 10, bits[typ]); err == nil {
			return reflect.ValueOf(n).Convert(basicTypes[typ]).Interface()
		}
	case "float32", "float64":
		if f, err := strconv.ParseFloat(text, bits[typ]); err == nil {
			return reflect.ValueOf(f).Convert(basicTypes[typ]).Interface()
		}
	case "json":
		var v any
		if json.Unmarshal([]byte(text), &v) == nil {
			return v
		}
	}
	return text
}

var basicTypes = map[string]reflect.Type{
	"int": reflect.TypeFor[int](), "int8": reflect.TypeFor[int8](), "int16": reflect.TypeFor[int16](),
	"int32": reflect.TypeFor[int32](), "int64": reflect.TypeFor[int64](),
	"uint": reflect.TypeFor[uint](), "uint8": reflect.TypeFor[uint8](), "uint16": reflect.TypeFor[uint16](),
	"uint32": reflect.TypeFor[uint32](), "uint64": reflect.TypeFor[uint64](),
	"float32": reflect.TypeFor[float32](), "float64": reflect.TypeFor[float64](),
}

// override is the Store the package-level functions use instead of one
// over the default client, when set (SetDefault).
var override atomic.Pointer[Store]

// SetDefault makes the package-level functions use s (a fake in a
// handler's unit test, or a Store with other defaults); nil goes back to
// the service's client.
func SetDefault(s Store) {
	if s == nil {
		override.Store(nil)
		return
	}
	override.Store(&s)
}

// Default returns the Store the package-level functions use: the one given
// to SetDefault, else one over the service's client (client.Default).
func Default() (Store, error) {
	if s := override.Load(); s != nil {
		return *s, nil
	}
	c, err := client.DefaultOrError()
	if err != nil {
		return nil, err
	}
	return NewStore(c), nil
}

// Read reads from the default store (see Store.Read).
func Read(key string, opts ...ReadOption) ([]*Record, error) {
	s, err := Default()
	if err != nil {
		return nil, err
	}
	return s.Read(key, opts...)
}

// Write writes to the default store (see Store.Write).
func Write(r *Record, opts ...WriteOption) error {
	s, err := Default()
	if err != nil {
		return err
	}
	return s.Write(r, opts...)
}

// Delete deletes from the default store (see Store.Delete).
func Delete(key string, opts ...DeleteOption) error {
	s, err := Default()
	if err != nil {
		return err
	}
	return s.Delete(key, opts...)
}

// List lists the default store's keys (see Store.List).
func List(opts ...ListOption) ([]string, error) {
	s, err := Default()
	if err != nil {
		return nil, err
	}
	return s.List(opts...)
}
