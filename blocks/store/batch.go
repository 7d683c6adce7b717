package store

import (
	"context"
	stderrors "errors"

	"micro.dev/micro/framework/errors"
	pb "micro.dev/micro/proto/store"
	"micro.dev/micro/schema"
)

// MaxBatchOps is the most operations one Batch may carry: a batch is one
// transaction, and a long one holds up every other writer.
const MaxBatchOps = 128

// Batch applies writes and deletes to one database in one transaction, so
// a record and the entries indexing it (framework/model) change together
// or not at all. A conditional operation whose revision does not match
// fails the whole batch with a 412 naming the operation.
func (s *Store) Batch(ctx context.Context, req *pb.BatchRequest) (*pb.BatchResponse, error) {
	database, _, err := s.scope(ctx, req.GetDatabase(), "")
	if err != nil {
		return nil, err
	}
	in := req.GetOperations()
	switch {
	case len(in) == 0:
		return nil, errors.BadRequest(errID, "operations are required")
	case len(in) > MaxBatchOps:
		return nil, errors.BadRequest(errID, "a batch has %d operations; the limit is %d", len(in), MaxBatchOps)
	}
	ops := make([]Op, len(in))
	freeing := true
	var size int
	for i, o := range in {
		table := o.GetTable()
		if table == "" {
			table = DefaultTable
		}
		if len(table) > maxNameSize {
			return nil, errors.BadRequest(errID, "operation %d: table name is %d bytes; the limit is %d", i, len(table), maxNameSize)
		}
		ops[i] = Op{Table: table, IfRevision: ifRevision(o.IfRevision)}
		switch {
		case o.GetRecord() != nil && o.GetDeleteKey() != "":
			return nil, errors.BadRequest(errID, "operation %d has both a record and a delete_key; give one", i)
		case o.GetRecord() != nil:
			r, err := s.recordFrom("operation record", o.GetRecord())
			if err != nil {
				return nil, errors.BadRequest(errID, "operation %d: %s", i, errors.FromError(err, errID).Detail)
			}
			size += len(r.Value)
			ops[i].Write = &r
			freeing = false
		case o.GetDeleteKey() != "":
			if err := checkKey("delete_key", o.GetDeleteKey()); err != nil {
				return nil, errors.BadRequest(errID, "operation %d: %s", i, errors.FromError(err, errID).Detail)
			}
			ops[i].DeleteKey = o.GetDeleteKey()
		default:
			return nil, errors.BadRequest(errID, "operation %d has neither a record nor a delete_key", i)
		}
	}
	if size > MaxValueSize {
		return nil, errors.BadRequest(errID, "a batch's values are %d bytes; the limit is %d", size, MaxValueSize)
	}
	if freeing {
		// Only deletes: it frees space, so it runs even under --min-free-space.
		ctx = schema.Freeing(ctx)
	}
	revs, err := s.backend.Batch(ctx, database, ops)
	if err != nil {
		var failed *BatchFailed
		if stderrors.As(err, &failed) {
			key := in[failed.Op].GetDeleteKey()
			if r := in[failed.Op].GetRecord(); r != nil {
				key = r.GetKey()
			}
			return nil, errors.PreconditionFailed(errID, "batch: operation %d (key %q): revision does not match: %v; nothing was applied",
				failed.Op, key, failed.Err)
		}
		return nil, s.failed(ctx, "batch", err)
	}
	rsp := &pb.BatchResponse{Revisions: make([]uint64, len(revs))}
	for i, r := range revs {
		rsp.Revisions[i] = uint64(max(r, 0))
	}
	return rsp, nil
}
