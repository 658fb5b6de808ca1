//go:build !unix

package dataset

import (
	"errors"
	"os"
	"time"
)

// lockFile takes path as an exclusive-create lock file, waiting for it (no
// flock here); one older than a minute was left by a dead process.
func lockFile(path string) (unlock func(), err error) {
	for deadline := time.Now().Add(30 * time.Second); ; {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			f.Close()
			return func() { os.Remove(path) }, nil
		}
		if !errors.Is(err, os.ErrExist) || time.Now().After(deadline) {
			return nil, err
		}
		if fi, err := os.Stat(path); err == nil && time.Since(fi.ModTime()) > time.Minute {
			os.Remove(path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// processGone cannot tell here: a lease of this host is taken over only
// when it expired.
func processGone(int) bool { return false }
