package pipeline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
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
// unlock releases it. Where the OS has a file lock (flock) the kernel also
// releases it when the process dies; elsewhere a lock file names the
// holder's process (pidLock), and one whose process is gone is taken over.
func LockStateDir(dir string) (unlock func(), err error) {
	if err := refuseSymlink(dir); err != nil {
		return nil, err
	}
	if err := MakeStateDir(dir); err != nil {
		return nil, fmt.Errorf("state folder %s: %w", dir, err)
	}
	unlock, busy, err := lockDir(dir)
	if busy {
		return nil, &LockedError{Dir: dir}
	}
	if err != nil {
		return nil, fmt.Errorf("state folder %s: locking: %w", dir, err)
	}
	return unlock, nil
}

// pidLockName is the lock file of the platforms without flock: it exists
// while a run holds the folder and holds that run's process id and host.
const pidLockName = "lock.pid"

// pidLock takes dir's lock by creating pidLockName exclusively. A lock file
// whose process is not alive on this host (alive says so) is left by a run
// that died: it is removed and the lock taken. One written on another host
// cannot be checked and stays busy. unlock removes the file.
func pidLock(dir string, alive func(pid int) bool) (unlock func(), busy bool, err error) {
	path := filepath.Join(dir, pidLockName)
	host, _ := os.Hostname()
	for attempt := 0; ; attempt++ {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			_, werr := fmt.Fprintf(f, "%d %s\n", os.Getpid(), host)
			if cerr := f.Close(); werr == nil {
				werr = cerr
			}
			if werr != nil {
				os.Remove(path)
				return nil, false, werr
			}
			return func() { os.Remove(path) }, false, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, false, err
		}
		b, rerr := os.ReadFile(path)
		if errors.Is(rerr, os.ErrNotExist) && attempt < 3 {
			continue // released meanwhile
		}
		var pid int
		var holder string
		if _, serr := fmt.Sscanf(string(b), "%d %s", &pid, &holder); serr != nil && len(b) == 0 && attempt < 3 {
			time.Sleep(20 * time.Millisecond) // being written: look again
			continue
		}
		if attempt >= 3 || pid <= 0 || holder != host || alive(pid) {
			return nil, true, nil
		}
		// The holder died without unlocking: take its place.
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, false, err
		}
	}
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
		if e.Name() == lockName || e.Name() == pidLockName {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return SyncDir(dir)
}
