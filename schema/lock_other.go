//go:build !unix

package schema

import "os"

// Without flock a second server is not detected; SQLite's own locking still
// keeps the file consistent.
func lockFile(f *os.File) error { return nil }

func unlockFile(f *os.File) {}
