package schema

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"

	"modernc.org/sqlite"
)

// ErrDiskFull is why a write failed when the disk (or the database's size
// cap, Options.MaxSize) has no room left, or when free space is below
// Options.MinFreeSpace. Reads go on; deleting frees space.
var ErrDiskFull = errors.New("the disk is full")

// sqliteFull is SQLITE_FULL: "database or disk is full", from a full disk
// or from max_page_count.
const sqliteFull = 13

// diskFull wraps err in ErrDiskFull when it says the disk is full.
func diskFull(err error) error {
	if err == nil || errors.Is(err, ErrDiskFull) {
		return err
	}
	var se *sqlite.Error
	if (errors.As(err, &se) && se.Code()&0xff == sqliteFull) || errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("%w: %v", ErrDiskFull, err)
	}
	return err
}

type freeingKey struct{}

// Freeing marks a write that frees space, such as a delete: it is still
// run when free space is below Options.MinFreeSpace, which is kept for it.
func Freeing(ctx context.Context) context.Context {
	return context.WithValue(ctx, freeingKey{}, true)
}

func isFreeing(ctx context.Context) bool {
	b, _ := ctx.Value(freeingKey{}).(bool)
	return b
}

// space keeps what the writer learnt of the disk, for Health.
type space struct {
	dir     string
	minFree int64
	full    atomic.Bool // the last write failed for want of space
}

// low reports free space below the minimum, as an ErrDiskFull error.
func (s *space) low() error {
	if s.minFree <= 0 {
		return nil
	}
	free, ok := freeSpace(s.dir)
	if !ok || free >= s.minFree {
		return nil
	}
	return fmt.Errorf("%w: %d bytes free where the database is, under the %d kept free (--min-free-space)",
		ErrDiskFull, free, s.minFree)
}

// Room reports whether n more bytes fit beside the database and still
// leave Options.MinFreeSpace free: nil when they do, or when free space
// cannot be read here, else an ErrDiskFull error saying how much is free.
// For what writes files next to the database (an upload spooled before it
// is read) and would otherwise fill the disk the database needs.
func (db *DB) Room(n int64) error {
	if db.space == nil {
		return nil
	}
	free, ok := freeSpace(db.space.dir)
	if !ok || free-db.space.minFree >= n {
		return nil
	}
	return fmt.Errorf("%w: %d bytes do not fit where the database is: %d bytes free, %d of them kept free (--min-free-space)",
		ErrDiskFull, n, free, db.space.minFree)
}

// note records a write's outcome.
func (s *space) note(err error) {
	switch {
	case err == nil:
		s.full.Store(false)
	case errors.Is(err, ErrDiskFull):
		s.full.Store(true)
	}
}

// Health reports why writes would fail for want of space (ErrDiskFull),
// or nil: the last write failed for it, or free space is under the
// minimum. It clears once a write succeeds and space is back.
func (db *DB) Health() error {
	if db.space == nil {
		return nil
	}
	if err := db.space.low(); err != nil {
		return err
	}
	if db.space.full.Load() {
		return fmt.Errorf("%w: the last write found no room; delete data or grow the disk", ErrDiskFull)
	}
	return nil
}
