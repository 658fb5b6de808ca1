package pipeline

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// A Spool is an export's checkpoint: every page of a listing the API
// returned, appended to one log file (pages.log) whose records carry their
// page's counts and a checksum. Appends are made durable in groups (one
// fsync per few megabytes or per second, and at Sync), not one by one: a page
// counts as held only once durable, and a crash loses at most the pages of
// the last group, which a resumed run fetches again. A torn or unsynced tail
// is cut off at the first record whose checksum fails. Small named files
// (the manifest, the field catalog) sit beside the log.
//
// A state folder holds one spool per snapshot (snap-<UTC time>): an export
// resumes the newest snapshot unless it is complete, and starts a new one
// otherwise, so a completed export is never served again from old pages. A
// completed snapshot keeps its named files (what was exported, with which
// catalog) but not its pages; only the newest completed snapshot is kept.
//
// Layout of a state folder (folders 0700, files 0600):
//
//	lock                                  flock'ed while a run uses the folder
//	snap-<UTC time>/manifest.json, ...    named files (WriteFile)
//	snap-<UTC time>/COMPLETE              written by Complete
//	snap-<UTC time>/pages.log             the pages (see spoollog.go)
//
// Earlier versions kept one file per page in snap-<UTC time>/pages/; such an
// incomplete snapshot is not read but discarded (see Discarded).
type Spool struct {
	dir       string
	unlock    func()
	log       *pageLog
	discarded string
	mirror    SpoolMirror
}

// A SpoolMirror keeps a copy of a spool elsewhere (beside a dataset in a
// bucket), so that another machine may resume the run. Append receives the
// log's bytes from offset off, each range once, in order, after they became
// durable locally: the ranges concatenated are a log (see RestoreSpool).
// WriteFile receives every named file written.
type SpoolMirror interface {
	Append(off int64, b []byte) error
	WriteFile(name string, b []byte) error
}

// SpoolPage identifies one held page and the counts its reply carried.
type SpoolPage struct {
	Pass, Page int // Page 0 may be used for a pass's end check
	Size       int // tickets on the page
	Total      int // the listing's total when the page was read
	TotalPages int
	Failed     bool // a permanent failure was recorded instead of a body
}

const (
	snapPrefix   = "snap-"
	completeFile = "COMPLETE"
	logFile      = "pages.log"
	oldPagesDir  = "pages" // one file per page, before the log
)

// OpenSpool opens the current snapshot of stateDir, creating stateDir (0700)
// and a new snapshot when there is none or the newest is complete. With
// fresh, an incomplete snapshot is discarded first. resumed reports whether
// an incomplete snapshot was found and reused. The state folder stays locked
// against other processes until Close (LockStateDir: a *LockedError when
// another run holds it).
func OpenSpool(stateDir string, fresh bool) (s *Spool, resumed bool, err error) {
	unlock, err := LockStateDir(stateDir)
	if err != nil {
		return nil, false, err
	}
	defer func() {
		if err != nil {
			unlock()
		}
	}()
	snaps, err := snapshots(stateDir)
	if err != nil {
		return nil, false, err
	}
	discarded := ""
	if n := len(snaps); n > 0 {
		last := filepath.Join(stateDir, snaps[n-1])
		if !isComplete(last) {
			_, err := os.Stat(filepath.Join(last, oldPagesDir))
			oldLayout := err == nil
			if !fresh && !oldLayout {
				// Temp files of writes a killed run left (the manifest,
				// the COMPLETE mark) are not state.
				RemoveTemps(last)
				log, err := openPageLog(filepath.Join(last, logFile))
				if err != nil {
					return nil, false, fmt.Errorf("spool: %w", err)
				}
				return &Spool{dir: last, unlock: unlock, log: log}, true, nil
			}
			if err := os.RemoveAll(last); err != nil {
				return nil, false, fmt.Errorf("discarding %s: %w", last, err)
			}
			if oldLayout && !fresh {
				discarded = last
			}
		}
	}
	name := snapPrefix + time.Now().UTC().Format("20060102T150405.000000000Z")
	dir := filepath.Join(stateDir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, err
	}
	log, err := openPageLog(filepath.Join(dir, logFile))
	if err == nil {
		err = SyncDir(dir)
	}
	if err == nil {
		err = SyncDir(stateDir)
	}
	if err != nil {
		log.close()
		return nil, false, fmt.Errorf("spool: %w", err)
	}
	return &Spool{dir: dir, unlock: unlock, log: log, discarded: discarded}, false, nil
}

// Discarded names the incomplete snapshot of an earlier version's layout
// (one file per page) that OpenSpool discarded instead of resuming, if any:
// its pages are fetched again.
func (s *Spool) Discarded() string { return s.discarded }

// Close releases the state folder's lock. Pages put since the last Sync may
// not be durable.
func (s *Spool) Close() error {
	err := s.log.close()
	s.unlock()
	return err
}

// snapshots lists stateDir's snapshot folders, oldest first (their names sort
// by time).
func snapshots(stateDir string) ([]string, error) {
	entries, err := os.ReadDir(stateDir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), snapPrefix) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

func isComplete(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, completeFile))
	return err == nil
}

// Dir is the snapshot's folder.
func (s *Spool) Dir() string { return s.dir }

// Mirror makes the spool copy to m, from now on, every named file written
// and the log's bytes from offset have (what m holds already) on, as they
// become durable: at each group's fsync and at Sync. A mirror's failure
// fails the next Put or Sync, as a failed fsync does. Set it before use;
// without one the spool costs nothing more.
func (s *Spool) Mirror(m SpoolMirror, have int64) {
	s.mirror = m
	s.log.mu.Lock()
	s.log.waitIdle()
	s.log.mirror, s.log.mirrored = m, have
	s.log.mu.Unlock()
}

// LogSize is the length of the log's whole records (and its header).
func (s *Spool) LogSize() int64 {
	s.log.mu.Lock()
	defer s.log.mu.Unlock()
	return s.log.end
}

// Restore replaces the snapshot's log by the bytes pages writes (a log, as
// a mirror received it; a torn tail is cut off) and writes the named files.
func (s *Spool) Restore(pages func(w io.Writer) error, files map[string][]byte) error {
	path := filepath.Join(s.dir, logFile)
	if err := s.log.close(); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	err = pages(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("spool: restoring %s: %w", path, err)
	}
	if s.log, err = openPageLog(path); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	for name, b := range files {
		if err := WriteFileAtomic(filepath.Join(s.dir, name), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// WriteFile stores a named file of the snapshot atomically (mode 0600),
// and in the mirror if any.
func (s *Spool) WriteFile(name string, data []byte) error {
	if err := WriteFileAtomic(filepath.Join(s.dir, name), data, 0o600); err != nil {
		return err
	}
	if s.mirror != nil {
		if err := s.mirror.WriteFile(name, data); err != nil {
			return fmt.Errorf("spool: mirroring %s: %w", name, err)
		}
	}
	return nil
}

// Files lists the snapshot's named files (not the log, nor the mark of a
// complete snapshot).
func (s *Spool) Files() ([]string, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if e.Type().IsRegular() && n != logFile && n != completeFile && !strings.HasPrefix(n, ".") && !strings.HasSuffix(n, ".tmp") {
			names = append(names, n)
		}
	}
	return names, nil
}

// ReadFile reads a named file; a missing one is an error satisfying
// errors.Is(err, fs.ErrNotExist).
func (s *Spool) ReadFile(name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(s.dir, name))
}

// Put stores one page's reply body (or, when p.Failed, why it failed) at the
// end of the log. It is durable after the next group's fsync or Sync; until
// then a crash may lose it (a kill of the process alone does not). A later
// Put of the same pass and page replaces the earlier one.
func (s *Spool) Put(p SpoolPage, body []byte) error {
	if err := s.log.put(p, body); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// Sync makes the pages put so far durable.
func (s *Spool) Sync() error {
	if err := s.log.sync(); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// Pages lists the held pages ordered by pass, then page.
func (s *Spool) Pages() ([]SpoolPage, error) {
	return s.log.pages(), nil
}

// Read returns a held page's body.
func (s *Spool) Read(p SpoolPage) ([]byte, error) {
	return s.log.read(p.Pass, p.Page)
}

// Complete marks the snapshot complete, drops its pages (the outputs now
// hold their data) and removes older snapshots of the state folder. The
// named files stay.
func (s *Spool) Complete() error {
	if err := WriteFileAtomic(filepath.Join(s.dir, completeFile), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o600); err != nil {
		return err
	}
	if err := s.log.drop(); err != nil {
		return err
	}
	stateDir := filepath.Dir(s.dir)
	snaps, err := snapshots(stateDir)
	if err != nil {
		return err
	}
	for _, name := range snaps {
		if name != filepath.Base(s.dir) {
			if err := os.RemoveAll(filepath.Join(stateDir, name)); err != nil {
				return err
			}
		}
	}
	return nil
}
