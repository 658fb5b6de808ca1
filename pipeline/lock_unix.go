//go:build unix

package pipeline

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
)

// lockDir takes an exclusive flock on the folder's lock file without
// waiting; busy is true when another process holds it. The kernel drops the
// lock when the process ends, however it ends. The file is never removed, so
// that every run locks the same file.
func lockDir(dir string) (unlock func(), busy bool, err error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, err
	}
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if err != nil {
		f.Close()
		return nil, errors.Is(err, syscall.EWOULDBLOCK), err
	}
	return func() { f.Close() }, false, nil
}
