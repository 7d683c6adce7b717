package config

import (
	"context"
	"fmt"
	"time"
)

// Backend is where the config tree persists, one leaf per row. The block's
// rules (paths, JSON, merging, secrets, masking, watch) live above it in
// Config, so every backend serves the same API with the same behaviour.
type Backend interface {
	// Leaves returns the leaves at or under path in namespace ns, in path
	// order; the empty path means every leaf of ns.
	Leaves(ctx context.Context, ns, path string) ([]Leaf, error)
	// Exists reports whether ns holds any leaf.
	Exists(ctx context.Context, ns string) (bool, error)
	// Set writes leaves, all at or under path, atomically. Every strict
	// ancestor of path must be absent or an empty object ({}), else Set
	// fails with a *ScalarError and changes nothing; empty objects above
	// path are removed. When replace is true everything at and under path
	// is removed first (a scalar or array set); otherwise the leaves merge
	// into what is there (an object set), each replacing whatever was at,
	// above (up to path) or under its own path. It returns ns's new
	// revision: the change is logged (see Changes) in the same commit.
	Set(ctx context.Context, ns, path string, leaves []Leaf, replace bool) (uint64, error)
	// Delete removes path and everything under it (the whole of ns for the
	// empty path) and returns ns's new revision, or 0 when nothing was
	// removed (and nothing logged).
	Delete(ctx context.Context, ns, path string) (uint64, error)
	// Snapshot is Leaves together with the revision they are at.
	Snapshot(ctx context.Context, ns, path string) ([]Leaf, uint64, error)
	// Changes returns ns's logged changes with a revision above after, in
	// order, the oldest revision still logged (current+1 when none is) and
	// the current revision, all read at one instant.
	Changes(ctx context.Context, ns string, after uint64) (changes []Change, oldest, current uint64, err error)
	// SecretKey returns the stored secret key, storing generate()'s result
	// first if there is none.
	SecretKey(ctx context.Context, generate func() ([]byte, error)) ([]byte, error)
}

// Leaf is one stored value.
type Leaf struct {
	// Path is the full dotted path.
	Path string
	// Value is the JSON text, or for a secret the sealed text.
	Value string
	// Secret marks a sealed value; KeyID names the key that sealed it.
	Secret bool
	KeyID  string
	// Updated is set by the backend and ignored on Set.
	Updated time.Time
}

// ScalarError reports a path that goes through a value that is not an
// object: "a.b" cannot be set while "a" is 5.
type ScalarError struct {
	// Path is the scalar in the way.
	Path string
}

func (e *ScalarError) Error() string {
	return fmt.Sprintf("%s holds a value that is not an object, so nothing can be set below it; delete it or set it to an object first", e.Path)
}
