package pipelinetest

import (
	"io/fs"
	"path/filepath"
	"testing"
)

// CheckOwnerOnly fails t for every folder under dir (dir included) whose
// mode is not 0700 and every file not 0600: state names the tenant and
// holds ticket data. It returns how many of each it checked.
func CheckOwnerOnly(t testing.TB, dir string) (dirs, files int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			dirs, want = dirs+1, 0o700
		} else {
			files++
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dirs, files
}
