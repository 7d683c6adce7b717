package store

import (
	"context"
	"time"
)

// Order is the order records and keys come back in, by key.
type Order string

// Orders.
const (
	OrderAsc  Order = "asc"
	OrderDesc Order = "desc"
)

// Option configures NewStore.
type Option func(*Options)

// Options are a Store's defaults.
type Options struct {
	// Database defaults to the client's namespace (MICRO_NAMESPACE, else
	// "micro").
	Database string
	// Table defaults to the client's service name (MICRO_SERVICE_NAME);
	// without one the store block's default table, "micro".
	Table string
	// Context is what the store's calls are made with: a handler's, so
	// that they join its trace (as in Micro, store.WithContext).
	Context context.Context
}

// WithContext makes the store's calls with ctx, a handler's say, so they
// are part of its trace and end with it.
func WithContext(ctx context.Context) Option { return func(o *Options) { o.Context = ctx } }

// Database sets the store's default database.
func Database(db string) Option { return func(o *Options) { o.Database = db } }

// Table sets the store's default table.
func Table(t string) Option { return func(o *Options) { o.Table = t } }

// ReadOptions configure one Read.
type ReadOptions struct {
	Database, Table string
	// Prefix reads every record whose key starts with the key given.
	Prefix bool
	// Suffix reads every record whose key ends with the key given.
	Suffix bool
	Limit  uint
	Offset uint
	Order  Order
}

// ReadOption sets a ReadOptions field.
type ReadOption func(*ReadOptions)

// ReadFrom reads from database and table instead of the store's defaults;
// an empty argument keeps that default.
func ReadFrom(database, table string) ReadOption {
	return func(o *ReadOptions) { o.Database, o.Table = database, table }
}

// ReadPrefix reads every record whose key starts with the key given.
func ReadPrefix() ReadOption { return func(o *ReadOptions) { o.Prefix = true } }

// ReadSuffix reads every record whose key ends with the key given.
func ReadSuffix() ReadOption { return func(o *ReadOptions) { o.Suffix = true } }

// ReadLimit returns at most l records.
func ReadLimit(l uint) ReadOption { return func(o *ReadOptions) { o.Limit = l } }

// ReadOffset skips the first o records.
func ReadOffset(off uint) ReadOption { return func(o *ReadOptions) { o.Offset = off } }

// ReadOrder sorts records by key, ascending (the default) or descending.
func ReadOrder(ord Order) ReadOption { return func(o *ReadOptions) { o.Order = ord } }

// WriteOptions configure one Write.
type WriteOptions struct {
	Database, Table string
	// Expiry is when the record expires; it overrides Record.Expiry.
	Expiry time.Time
	// TTL is how long the record lives; it overrides Record.Expiry.
	TTL time.Duration
	// IfRevision, when set, makes the write a compare-and-set (see
	// WriteIfRevision).
	IfRevision *uint64
}

// WriteOption sets a WriteOptions field.
type WriteOption func(*WriteOptions)

// WriteTo writes to database and table instead of the store's defaults.
func WriteTo(database, table string) WriteOption {
	return func(o *WriteOptions) { o.Database, o.Table = database, table }
}

// WriteExpiry makes the record expire at t.
func WriteExpiry(t time.Time) WriteOption { return func(o *WriteOptions) { o.Expiry = t } }

// WriteTTL makes the record expire d from now.
func WriteTTL(d time.Duration) WriteOption { return func(o *WriteOptions) { o.TTL = d } }

// WriteIfRevision writes only if the record is at revision rev (0: only if
// it does not exist, an expired record counting as absent); otherwise the
// write fails with a micro 412 naming the current revision. Read, change,
// write with the revision read, and retry on 412: no update is lost.
func WriteIfRevision(rev uint64) WriteOption {
	return func(o *WriteOptions) { o.IfRevision = &rev }
}

// DeleteOptions configure one Delete.
type DeleteOptions struct {
	Database, Table string
	// IfRevision, when set, deletes only a record at that revision.
	IfRevision *uint64
}

// DeleteIfRevision deletes only if the record is at revision rev; otherwise
// the delete fails with a micro 412.
func DeleteIfRevision(rev uint64) DeleteOption {
	return func(o *DeleteOptions) { o.IfRevision = &rev }
}

// DeleteOption sets a DeleteOptions field.
type DeleteOption func(*DeleteOptions)

// DeleteFrom deletes from database and table instead of the store's
// defaults.
func DeleteFrom(database, table string) DeleteOption {
	return func(o *DeleteOptions) { o.Database, o.Table = database, table }
}

// ListOptions configure one List.
type ListOptions struct {
	Database, Table string
	Prefix, Suffix  string
	Limit, Offset   uint
	Order           Order
}

// ListOption sets a ListOptions field.
type ListOption func(*ListOptions)

// ListFrom lists database and table instead of the store's defaults.
func ListFrom(database, table string) ListOption {
	return func(o *ListOptions) { o.Database, o.Table = database, table }
}

// ListPrefix lists only keys starting with p.
func ListPrefix(p string) ListOption { return func(o *ListOptions) { o.Prefix = p } }

// ListSuffix lists only keys ending with s.
func ListSuffix(s string) ListOption { return func(o *ListOptions) { o.Suffix = s } }

// ListLimit lists at most l keys.
func ListLimit(l uint) ListOption { return func(o *ListOptions) { o.Limit = l } }

// ListOffset skips the first o keys.
func ListOffset(off uint) ListOption { return func(o *ListOptions) { o.Offset = off } }

// ListOrder sorts keys ascending (the default) or descending.
func ListOrder(ord Order) ListOption { return func(o *ListOptions) { o.Order = ord } }
