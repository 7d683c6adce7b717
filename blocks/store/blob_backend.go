package store

import (
	"context"
	"errors"
	"time"
)

// BlobBackend is where blobs persist. The rules (defaults, namespaces,
// limits, how bytes are cut into chunks) live above it in Blobs; a backend
// keeps chunks and makes a finished upload a blob's bytes atomically.
type BlobBackend interface {
	// Create begins an upload of the bytes of database/table/key, with
	// info. Its chunks are nobody's bytes until the writer commits them;
	// readers meanwhile see the blob's old bytes.
	Create(ctx context.Context, database, table, key string, info BlobInfo) (BlobWriter, error)
	// Open returns a reader of a blob's chunks, or ErrBlobNotFound.
	Open(ctx context.Context, database, table, key string) (BlobReader, error)
	// Delete removes a blob, reporting whether there was one. Its chunks
	// are left to Purge.
	Delete(ctx context.Context, database, table, key string) (bool, error)
	// List returns, in key order, the keys of a table starting with prefix.
	List(ctx context.Context, database, table, prefix string) ([]string, error)
	// Abandon gives up every upload still being written: only the start
	// may call it, when no write can be in progress, so that uploads a
	// crash cut short are purged.
	Abandon(ctx context.Context) error
	// Purge deletes the chunks no blob has any more (replaced, deleted,
	// aborted or abandoned uploads) and reports how many chunks went.
	Purge(ctx context.Context) (int64, error)
}

// BlobWriter is one upload in progress.
type BlobWriter interface {
	// Write appends a chunk.
	Write(ctx context.Context, chunk []byte) error
	// Commit makes the chunks written the blob's bytes, replacing the old
	// ones (left to Purge) in one step.
	Commit(ctx context.Context) error
	// Abort gives the upload up; its chunks are left to Purge.
	Abort(ctx context.Context) error
}

// BlobReader reads one blob's chunks in order.
type BlobReader interface {
	// Info describes the blob as it was when opened.
	Info() BlobInfo
	// Next returns the next chunk, io.EOF after the last, or
	// ErrBlobChanged when the blob was replaced or deleted since Open.
	Next(ctx context.Context) ([]byte, error)
}

// BlobInfo describes a blob.
type BlobInfo struct {
	Size        int64
	ContentType string
	Public      bool
	// Created and Updated are the backend's: Created when the key got
	// its first blob (a replace keeps it), Updated at each Commit. A
	// caller's are ignored, but for a copy's.
	Created, Updated time.Time
	// keepTimes makes Commit write Created and Updated as given: a copy
	// (import, export) keeping a blob's history, as Op.keepTimes does a
	// record's.
	keepTimes bool
}

var (
	// ErrBlobNotFound is a blob that does not exist.
	ErrBlobNotFound = errors.New("blob not found")
	// ErrBlobChanged is a blob replaced or deleted while it was read.
	ErrBlobChanged = errors.New("blob was replaced or deleted while it was read")
)
