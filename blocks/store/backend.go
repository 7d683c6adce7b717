package store

import (
	"context"
	"fmt"
	"time"
)

// Backend is where records persist. The block's rules (defaults, validation,
// limits, namespaces, expiry in seconds) live above it in Store, so every
// backend, the SQLite file today and a clustered one later, serves the same
// API with the same behaviour.
//
// A backend never returns an expired record, key, database or table: expiry
// takes effect at once, whenever the backend gets to deleting the rows.
type Backend interface {
	// Read returns the live records of database/table that q selects, in
	// key order. A Query with Key set returns at most one record; none is
	// not an error.
	Read(ctx context.Context, database, table string, q Query) ([]Record, error)
	// Write creates or replaces a record. The backend sets Revision,
	// Created and Updated; a record that had expired is created afresh.
	// With ifRevision set the write happens only if the record's current
	// revision equals *ifRevision (0: the record must not exist, expired
	// counts as absent), checked in the same transaction; otherwise it
	// returns a *RevisionMismatch. It returns the revision written.
	Write(ctx context.Context, database, table string, r Record, ifRevision *int64) (int64, error)
	// Delete removes a record; deleting a missing key is not an error.
	// ifRevision makes it conditional as for Write.
	Delete(ctx context.Context, database, table, key string, ifRevision *int64) error
	// Batch applies ops to database in one transaction, in order, each
	// seeing the ones before it: all of them or none. A conditional
	// operation whose revision does not match fails the batch with a
	// *BatchFailed. It returns the revision each operation wrote (0 for a
	// delete).
	Batch(ctx context.Context, database string, ops []Op) ([]int64, error)
	// List returns the keys of the live records q selects, in key order.
	List(ctx context.Context, database, table string, q Query) ([]string, error)
	// Databases returns, sorted, the databases holding a live record.
	Databases(ctx context.Context) ([]string, error)
	// Tables returns, sorted, the tables of database holding a live record.
	Tables(ctx context.Context, database string) ([]string, error)
	// Sweep deletes expired records and reports how many it deleted. A
	// backend whose storage expires records by itself returns 0.
	Sweep(ctx context.Context) (int64, error)
	// NextExpiry returns the earliest expiry of any record, expired or
	// not; zero when no record expires. The sweeper sleeps until then.
	NextExpiry(ctx context.Context) (time.Time, error)
}

// RevisionMismatch is a conditional write or delete whose record did not
// have the expected revision.
type RevisionMismatch struct {
	// Current is the record's revision; 0 when it does not exist.
	Current int64
	// Batched is a condition on a record an earlier operation of the same
	// batch wrote: on JetStream its revision is not known until the batch
	// commits, so only "absent" after a delete can hold.
	Batched bool
}

func (e *RevisionMismatch) Error() string {
	if e.Batched {
		return "an earlier operation of the batch writes this record, and its new revision is not known before the batch commits"
	}
	if e.Current == 0 {
		return "record does not exist"
	}
	return fmt.Sprintf("record is at revision %d", e.Current)
}

// Op is one operation of a Batch: a write of Write when it is set, else a
// delete of DeleteKey; IfRevision makes it conditional as for Write.
type Op struct {
	Table      string
	Write      *Record
	DeleteKey  string
	IfRevision *int64
	// keepTimes writes the record's own Created and Updated instead of
	// the clock's (an import keeping a record's history).
	keepTimes bool
}

// BatchFailed is a batch that was not applied because its operation Op
// failed with Err (a *RevisionMismatch).
type BatchFailed struct {
	Op  int
	Err error
}

func (e *BatchFailed) Error() string { return fmt.Sprintf("operation %d: %v", e.Op, e.Err) }
func (e *BatchFailed) Unwrap() error { return e.Err }

// Change is one committed change to a record, as Watch reports it.
type Change struct {
	Type            string // ChangeCreate, ChangeUpdate, ChangeDelete or ChangeExpire
	Database, Table string
	// Record is the record after the change; for a delete or an expiry its
	// key and last revision only.
	Record Record
}

// Change types.
const (
	ChangeCreate = "create"
	ChangeUpdate = "update"
	ChangeDelete = "delete"
	ChangeExpire = "expire"
)

// Notifier receives a backend's changes in commit order. A backend calls
// Reserve inside its transaction (where its writes are serialised) and
// Commit with the same sequence number once the transaction's outcome is
// known: with the changes if it committed, with none if it did not.
type Notifier interface {
	Reserve() uint64
	Commit(seq uint64, changes []Change)
	// Lost tells of changes that committed but cannot be reported (a
	// backend whose feed comes over the network lost some): every watcher
	// is ended as one that fell behind, to read again and watch again.
	Lost()
}

// Record is one stored value.
type Record struct {
	Key      string
	Value    []byte
	Metadata map[string]Field
	// ExpiresAt is when the record disappears; zero means never.
	ExpiresAt time.Time
	// Revision counts writes since the record was created (1 on create)
	// on SQLite. On JetStream it is the bucket's sequence number of the
	// record's last write: it grows with every write of the record, but by
	// more than one, and a record created afresh does not start at 1.
	// Either way a compare-and-set takes it from a read. It is set by the
	// backend and ignored on Write.
	Revision int64
	// Created and Updated are set by the backend and ignored on Write.
	Created, Updated time.Time
}

// Field is a typed metadata value, kept as text as Micro's API carries it.
type Field struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// Query selects records of one table by key.
type Query struct {
	// Key selects exactly that key; when set, Prefix and Suffix are ignored.
	// An empty Key with empty Prefix and Suffix selects every key.
	Key string
	// Prefix and Suffix select keys that start and end with them (both must
	// hold when both are set). They match bytes literally: no wildcards.
	Prefix, Suffix string
	// Limit caps the number of results (0: no cap) after skipping Offset.
	Limit, Offset uint64
	// Desc orders by key descending instead of ascending.
	Desc bool
}
