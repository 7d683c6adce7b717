package store

import (
	"context"
	stderrors "errors"
	"math"
	"strings"
	"time"

	"google.golang.org/grpc"

	"micro.dev/micro/blocks/internal/failure"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/metadata"
	pb "micro.dev/micro/proto/store"
	"micro.dev/micro/schema"
)

// Limits on what a record may hold; a request over them gets a 400.
const (
	// MaxKeySize is the longest key, in bytes.
	MaxKeySize = 4096
	// MaxValueSize is the largest value, in bytes: gRPC's 32 MiB message
	// limit, which a record must fit in.
	MaxValueSize = 32 << 20
	// MaxExpiry is the longest expiry, in seconds (100 years).
	MaxExpiry = 100 * 365 * 24 * 60 * 60
)

// DefaultTable is the table of a request that names none.
const DefaultTable = "micro"

// maxNameSize bounds database and table names.
const maxNameSize = 255

const errID = "store"

// Read returns the record with the key, or with options.prefix or
// options.suffix every record whose key starts or ends with it (an empty
// key then matches all). An exact key that is missing or expired is a 404.
func (s *Store) Read(ctx context.Context, req *pb.ReadRequest) (*pb.ReadResponse, error) {
	o := req.GetOptions()
	database, table, err := s.scope(ctx, o.GetDatabase(), o.GetTable())
	if err != nil {
		return nil, err
	}
	desc, err := descending(o.GetOrder())
	if err != nil {
		return nil, err
	}
	key := req.GetKey()
	if err := checkKey("key", key); err != nil {
		return nil, err
	}
	q := Query{Limit: o.GetLimit(), Offset: o.GetOffset(), Desc: desc}
	switch {
	case o.GetPrefix() || o.GetSuffix():
		if o.GetPrefix() {
			q.Prefix = key
		}
		if o.GetSuffix() {
			q.Suffix = key
		}
	case key == "":
		return nil, errors.BadRequest(errID, "key is required; to read every record set options.prefix with an empty key")
	default:
		q.Key = key
	}
	recs, err := s.backend.Read(ctx, database, table, q)
	if err != nil {
		return nil, s.failed(ctx, "read", err)
	}
	if q.Key != "" && len(recs) == 0 {
		return nil, errors.NotFound(errID, "not found")
	}
	now := s.now()
	rsp := &pb.ReadResponse{Records: make([]*pb.Record, len(recs))}
	for i, r := range recs {
		rsp.Records[i] = toProto(r, now)
	}
	return rsp, nil
}

// Write creates or replaces a record. Its expiry is in seconds from now;
// 0 means it never expires.
func (s *Store) Write(ctx context.Context, req *pb.WriteRequest) (*pb.WriteResponse, error) {
	o := req.GetOptions()
	database, table, err := s.scope(ctx, o.GetDatabase(), o.GetTable())
	if err != nil {
		return nil, err
	}
	r, err := s.recordFrom("record", req.GetRecord())
	if err != nil {
		return nil, err
	}
	var ifRev *uint64
	if o != nil {
		ifRev = o.IfRevision
	}
	if _, err := s.backend.Write(ctx, database, table, r, ifRevision(ifRev)); err != nil {
		return nil, s.failed(ctx, "write", err)
	}
	s.expiries.written(r.ExpiresAt)
	return &pb.WriteResponse{}, nil
}

// recordFrom checks a record to write and converts it; what names it in
// errors.
func (s *Store) recordFrom(what string, rec *pb.Record) (Record, error) {
	if rec == nil {
		return Record{}, errors.BadRequest(errID, "%s is required", what)
	}
	if rec.GetKey() == "" {
		return Record{}, errors.BadRequest(errID, "%s key is required", what)
	}
	if err := checkKey(what+" key", rec.GetKey()); err != nil {
		return Record{}, err
	}
	if n := len(rec.GetValue()); n > MaxValueSize {
		return Record{}, errors.BadRequest(errID, "%s value is %d bytes; the limit is %d", what, n, MaxValueSize)
	}
	r := Record{Key: rec.GetKey(), Value: rec.GetValue()}
	switch e := rec.GetExpiry(); {
	case e < 0 || e > MaxExpiry:
		return Record{}, errors.BadRequest(errID, "%s expiry is %d; give seconds from 0 (never expires) to %d", what, e, MaxExpiry)
	case e > 0:
		r.ExpiresAt = s.now().Add(time.Duration(e) * time.Second)
	}
	if md := rec.GetMetadata(); len(md) > 0 {
		r.Metadata = make(map[string]Field, len(md))
		for k, f := range md {
			r.Metadata[k] = Field{Type: f.GetType(), Value: f.GetValue()}
		}
	}
	return r, nil
}

// Delete removes a record. Deleting a missing key succeeds, as in Micro.
func (s *Store) Delete(ctx context.Context, req *pb.DeleteRequest) (*pb.DeleteResponse, error) {
	o := req.GetOptions()
	database, table, err := s.scope(ctx, o.GetDatabase(), o.GetTable())
	if err != nil {
		return nil, err
	}
	key := req.GetKey()
	if key == "" {
		return nil, errors.BadRequest(errID, "key is required")
	}
	if err := checkKey("key", key); err != nil {
		return nil, err
	}
	var ifRev *uint64
	if o != nil {
		ifRev = o.IfRevision
	}
	// A delete frees space: it runs even under --min-free-space.
	if err := s.backend.Delete(schema.Freeing(ctx), database, table, key, ifRevision(ifRev)); err != nil {
		return nil, s.failed(ctx, "delete", err)
	}
	return &pb.DeleteResponse{}, nil
}

// List sends the keys of a table, filtered by prefix and suffix, in one
// message, as Micro does.
func (s *Store) List(req *pb.ListRequest, stream grpc.ServerStreamingServer[pb.ListResponse]) error {
	ctx := stream.Context()
	o := req.GetOptions()
	database, table, err := s.scope(ctx, o.GetDatabase(), o.GetTable())
	if err != nil {
		return err
	}
	desc, err := descending(o.GetOrder())
	if err != nil {
		return err
	}
	if err := checkKey("prefix", o.GetPrefix()); err != nil {
		return err
	}
	if err := checkKey("suffix", o.GetSuffix()); err != nil {
		return err
	}
	keys, err := s.backend.List(ctx, database, table, Query{
		Prefix: o.GetPrefix(), Suffix: o.GetSuffix(),
		Limit: o.GetLimit(), Offset: o.GetOffset(), Desc: desc,
	})
	if err != nil {
		return s.failed(ctx, "list", err)
	}
	return stream.Send(&pb.ListResponse{Keys: keys})
}

// Databases lists the databases that hold a live record and that the
// caller administers: all of them for an admin of namespace micro, else
// the caller's own.
func (s *Store) Databases(ctx context.Context, _ *pb.DatabasesRequest) (*pb.DatabasesResponse, error) {
	if err := s.authz.Check(ctx, metadata.NamespaceFrom(ctx), true); err != nil {
		return nil, err
	}
	dbs, err := s.backend.Databases(ctx)
	if err != nil {
		return nil, s.failed(ctx, "databases", err)
	}
	mine := dbs[:0]
	for _, db := range dbs {
		if s.authz.Check(ctx, db, true) == nil {
			mine = append(mine, db)
		}
	}
	return &pb.DatabasesResponse{Databases: mine}, nil
}

// Tables lists the tables of a database (the caller's namespace by default)
// that hold a live record.
func (s *Store) Tables(ctx context.Context, req *pb.TablesRequest) (*pb.TablesResponse, error) {
	database, _, err := s.scope(ctx, req.GetDatabase(), "")
	if err != nil {
		return nil, err
	}
	tables, err := s.backend.Tables(ctx, database)
	if err != nil {
		return nil, s.failed(ctx, "tables", err)
	}
	return &pb.TablesResponse{Tables: tables}, nil
}

// scope applies the defaults, the caller's namespace as the database and
// DefaultTable as the table, and checks that the caller administers the
// database's namespace (as in Micro: the store needs an admin or service
// account of the namespace).
func (s *Store) scope(ctx context.Context, database, table string) (string, string, error) {
	if database == "" {
		database = metadata.NamespaceFrom(ctx)
	}
	if err := s.authz.Check(ctx, database, true); err != nil {
		return "", "", err
	}
	if table == "" {
		table = DefaultTable
	}
	if len(database) > maxNameSize {
		return "", "", errors.BadRequest(errID, "database name is %d bytes; the limit is %d", len(database), maxNameSize)
	}
	if len(table) > maxNameSize {
		return "", "", errors.BadRequest(errID, "table name is %d bytes; the limit is %d", len(table), maxNameSize)
	}
	return database, table, nil
}

func checkKey(what, key string) error {
	if len(key) > MaxKeySize {
		return errors.BadRequest(errID, "%s is %d bytes; the limit is %d", what, len(key), MaxKeySize)
	}
	return nil
}

// descending reads an order option: "" or asc, desc.
func descending(order string) (bool, error) {
	switch strings.ToLower(order) {
	case "", "asc":
		return false, nil
	case "desc":
		return true, nil
	}
	return false, errors.BadRequest(errID, "order %q is not valid; use asc or desc", order)
}

func toProto(r Record, now time.Time) *pb.Record {
	out := &pb.Record{Key: r.Key, Value: r.Value, Revision: uint64(max(r.Revision, 0))}
	if !r.ExpiresAt.IsZero() {
		// Rounded up, so a record still readable never reports 0 (never
		// expires).
		left := (r.ExpiresAt.Sub(now) + time.Second - 1) / time.Second
		out.Expiry = max(int64(left), 1)
	}
	if len(r.Metadata) > 0 {
		out.Metadata = make(map[string]*pb.Field, len(r.Metadata))
		for k, f := range r.Metadata {
			out.Metadata[k] = &pb.Field{Type: f.Type, Value: f.Value}
		}
	}
	return out
}

// ifRevision reads the optional compare-and-set revision of a write or
// delete: nil when the caller set none (every client that predates it).
func ifRevision(v *uint64) *int64 {
	if v == nil {
		return nil
	}
	rev := int64(min(*v, math.MaxInt64))
	return &rev
}

// failed turns a backend error into the caller's answer: a failed
// compare-and-set is a 412 naming the record's revision, a shutdown a 503,
// an ended call keeps its own code, anything else is logged and a 500.
func (s *Store) failed(ctx context.Context, op string, err error) error {
	var mismatch *RevisionMismatch
	if stderrors.As(err, &mismatch) {
		if mismatch.Current == 0 {
			return errors.PreconditionFailed(errID, "%s: revision does not match: the record does not exist (current revision 0)", op)
		}
		return errors.PreconditionFailed(errID, "%s: revision does not match: the record is at revision %d", op, mismatch.Current)
	}
	return failure.Answer(ctx, s.log, errID, op, err)
}
