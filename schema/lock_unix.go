//go:build unix

package schema

import (
	"errors"
	"os"
	"syscall"
)

// lockFile takes an exclusive flock on f. flock and SQLite's fcntl locks are
// independent on Unix, so the lock sits beside SQLite's without disturbing it.
func lockFile(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return ErrInUse
	}
	return err
}

func unlockFile(f *os.File) {
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
