package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
)

// LockedError is returned by LockStateDir when another run holds the state
// folder: the same job is running already.
type LockedError struct{ Dir string }

func (e *LockedError) Error() string {
	return fmt.Sprintf("another run of this job is using its state folder %s; wait for it to finish (or stop it) and run again", e.Dir)
}

// lockName is the file in a state folder that a run flocks while it uses the
// folder. It is never removed, so that every run locks the same file.
const lockName = "lock"

// LockStateDir creates dir (see MakeStateDir) and takes its lock for this
// process, without waiting: every job (export, import, sync) holds it from
// before it reads its state until it ends, so that two runs of the same job
// never interleave. It returns a *LockedError when another run holds it.
// unlock releases it; the kernel also releases it when the process dies.
func LockStateDir(dir string) (unlock func(), err error) {
	if err := MakeStateDir(dir); err != nil {
		return nil, fmt.Errorf("state folder %s: %w", dir, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state folder %s: %w", dir, err)
	}
	busy, err := lockFile(f)
	if err != nil || busy {
		f.Close()
		if busy {
			return nil, &LockedError{Dir: dir}
		}
		return nil, fmt.Errorf("state folder %s: locking: %w", dir, err)
	}
	return func() { f.Close() }, nil
}

// ClearStateDir removes everything in a state folder but its lock: what a
// fresh start discards. The caller holds the lock (LockStateDir), so no other
// run's state is removed.
func ClearStateDir(dir string) error {
	if err := refuseSymlink(dir); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == lockName {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return SyncDir(dir)
}
