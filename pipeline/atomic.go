package pipeline

import (
	"os"
	"path/filepath"
)

// WriteFileAtomic writes data to path so that a crash leaves either the old
// file or the new one, never a torn one: a temp file in the same folder,
// fsynced, renamed over path, and the folder fsynced. State files use mode 0600.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	return placeFile(path, data, perm, os.Rename)
}

// createFileAtomic is WriteFileAtomic for a file that must not exist yet: it
// never replaces one (the error then satisfies errors.Is(err, fs.ErrExist)).
// The temp file is hard-linked to path, which fails when path exists.
func createFileAtomic(path string, data []byte, perm os.FileMode) error {
	return placeFile(path, data, perm, os.Link)
}

// placeFile writes data to a temp file beside path, fsynced, puts it at path
// with place (rename or link) and fsyncs the folder.
func placeFile(path string, data []byte, perm os.FileMode, place func(tmp, path string) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed; drops the temp name once linked
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := place(tmp, path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// SyncDir fsyncs a folder so that a rename or create in it survives a
// crash: every writer of files (state, outputs) calls this one.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// RemoveTemps removes from dir the temp files that writes through
// WriteFileAtomic (or a spool's pages) left when their process was killed:
// they are not state. The caller holds the folder's lock, so no live write
// is among them.
func RemoveTemps(dir string) {
	stale, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*"))
	for _, p := range stale {
		os.Remove(p)
	}
}
