package store

import (
	"context"
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
	Write(ctx context.Context, database, table string, r Record) error
	// Delete removes a record; deleting a missing key is not an error.
	Delete(ctx context.Context, database, table, key string) error
	// List returns the keys of the live records q selects, in key order.
	List(ctx context.Context, database, table string, q Query) ([]string, error)
	// Databases returns, sorted, the databases holding a live record.
	Databases(ctx context.Context) ([]string, error)
	// Tables returns, sorted, the tables of database holding a live record.
	Tables(ctx context.Context, database string) ([]string, error)
	// Sweep deletes expired records and reports how many it deleted. A
	// backend whose storage expires records by itself returns 0.
	Sweep(ctx context.Context) (int64, error)
}

// Record is one stored value.
type Record struct {
	Key      string
	Value    []byte
	Metadata map[string]Field
	// ExpiresAt is when the record disappears; zero means never.
	ExpiresAt time.Time
	// Revision counts writes since the record was created (1 on create).
	// It is set by the backend and ignored on Write.
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
