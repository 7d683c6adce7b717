//go:build !unix

package cli

import (
	"errors"
	"io/fs"
	"os"
	"time"
)

// staleLock is the age after which a lock file left by a killed command is
// taken over; a config update takes milliseconds.
const staleLock = 10 * time.Second

// lockConfig creates the lock file at path exclusively, waiting while another
// command holds it, and returns its release.
func lockConfig(path string) (unlock func(), err error) {
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err == nil {
			f.Close()
			return func() { os.Remove(path) }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		if fi, err := os.Stat(path); err == nil && time.Since(fi.ModTime()) > staleLock {
			os.Remove(path)
			continue
		}
		time.Sleep(10 * time.Millisecond)
	}
}
