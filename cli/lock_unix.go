//go:build unix

package cli

import (
	"os"
	"syscall"
)

// lockConfig takes an exclusive flock on the lock file at path and returns
// its release. The kernel drops the lock if the process dies, so a killed
// micro command never leaves the config locked.
func lockConfig(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
