package pipeline

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// A Spool is an export's checkpoint: every page of a listing the API
// returned, one file per page, each written to a temp name, fsynced and
// renamed, so the set of page files is exactly the set of pages held. Small
// named files (the manifest, the field catalog) sit beside them.
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
//	snap-<UTC time>/pages/p<pass>-<page>.s<size>.t<total>.n<total_pages>.json
//	snap-<UTC time>/pages/p<pass>-<page>.failed.json   a permanent failure (body: why)
//
// The numbers in a page's name are those of its reply, so that a resumed run
// knows every page's counts without decoding it.
type Spool struct {
	dir    string
	unlock func()
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
	pagesDir     = "pages"
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
	if n := len(snaps); n > 0 {
		last := filepath.Join(stateDir, snaps[n-1])
		if !isComplete(last) {
			if !fresh {
				// Temp files of writes a killed run left (pages, the
				// manifest, the COMPLETE mark) are not state.
				RemoveTemps(last)
				RemoveTemps(filepath.Join(last, pagesDir))
				return &Spool{dir: last, unlock: unlock}, true, nil
			}
			if err := os.RemoveAll(last); err != nil {
				return nil, false, fmt.Errorf("discarding %s: %w", last, err)
			}
		}
	}
	name := snapPrefix + time.Now().UTC().Format("20060102T150405.000000000Z")
	dir := filepath.Join(stateDir, name)
	if err := os.MkdirAll(filepath.Join(dir, pagesDir), 0o700); err != nil {
		return nil, false, err
	}
	if err := SyncDir(stateDir); err != nil {
		return nil, false, err
	}
	return &Spool{dir: dir, unlock: unlock}, false, nil
}

// Close releases the state folder's lock.
func (s *Spool) Close() error {
	s.unlock()
	return nil
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

// WriteFile stores a named file of the snapshot atomically (mode 0600).
func (s *Spool) WriteFile(name string, data []byte) error {
	return WriteFileAtomic(filepath.Join(s.dir, name), data, 0o600)
}

// ReadFile reads a named file; a missing one is an error satisfying
// errors.Is(err, fs.ErrNotExist).
func (s *Spool) ReadFile(name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(s.dir, name))
}

func (p SpoolPage) fileName() string {
	if p.Failed {
		return fmt.Sprintf("p%d-%06d.failed.json", p.Pass, p.Page)
	}
	return fmt.Sprintf("p%d-%06d.s%d.t%d.n%d.json", p.Pass, p.Page, p.Size, p.Total, p.TotalPages)
}

// parsePageName is fileName's inverse; ok is false for any other name (temp
// files of an interrupted write among them).
func parsePageName(name string) (p SpoolPage, ok bool) {
	rest, found := strings.CutSuffix(name, ".json")
	if !found || !strings.HasPrefix(rest, "p") {
		return p, false
	}
	parts := strings.Split(rest[1:], ".")
	pp := strings.SplitN(parts[0], "-", 2)
	if len(pp) != 2 {
		return p, false
	}
	var err1, err2 error
	p.Pass, err1 = strconv.Atoi(pp[0])
	p.Page, err2 = strconv.Atoi(pp[1])
	if err1 != nil || err2 != nil || p.Pass < 0 || p.Page < 0 {
		return p, false
	}
	if len(parts) == 2 && parts[1] == "failed" {
		p.Failed = true
		return p, true
	}
	if len(parts) != 4 {
		return p, false
	}
	for i, dst := range []*int{&p.Size, &p.Total, &p.TotalPages} {
		want := "stn"[i]
		v, err := strconv.Atoi(parts[i+1][1:])
		if parts[i+1][0] != want || err != nil || v < 0 {
			return p, false
		}
		*dst = v
	}
	return p, true
}

// Put stores one page's reply body (or, when p.Failed, why it failed): a
// temp file, fsynced, renamed to the page's name, so a page file is never
// torn. The folder is not fsynced for each page (Sync does it once): a
// rename lost to a power cut only means the page is fetched again. A page is
// put once: a held page is never fetched again.
func (s *Spool) Put(p SpoolPage, body []byte) error {
	dir := filepath.Join(s.dir, pagesDir)
	if err := writeSynced(dir, p.fileName(), body); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// writeSynced writes data to dir/name through a temp file, fsynced and
// renamed into place (mode 0600).
func writeSynced(dir, name string, data []byte) error {
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// Sync makes the pages put so far durable (their folder's entries).
func (s *Spool) Sync() error {
	return SyncDir(filepath.Join(s.dir, pagesDir))
}

// Pages lists the held pages ordered by pass, then page.
func (s *Spool) Pages() ([]SpoolPage, error) {
	entries, err := os.ReadDir(filepath.Join(s.dir, pagesDir))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []SpoolPage
	for _, e := range entries {
		if p, ok := parsePageName(e.Name()); ok {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Pass != out[j].Pass {
			return out[i].Pass < out[j].Pass
		}
		return out[i].Page < out[j].Page
	})
	return out, nil
}

// Read returns a held page's body.
func (s *Spool) Read(p SpoolPage) ([]byte, error) {
	return os.ReadFile(filepath.Join(s.dir, pagesDir, p.fileName()))
}

// Complete marks the snapshot complete, drops its pages (the outputs now
// hold their data) and removes older snapshots of the state folder. The
// named files stay.
func (s *Spool) Complete() error {
	if err := WriteFileAtomic(filepath.Join(s.dir, completeFile), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.RemoveAll(filepath.Join(s.dir, pagesDir)); err != nil {
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
