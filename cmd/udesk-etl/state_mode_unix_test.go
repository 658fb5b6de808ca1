//go:build unix

package main

import (
	"io/fs"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// Under the usual umask 022, every state folder of an export and an import
// is made 0700 and every state file 0600: they name the tenant and hold
// ticket data.
func TestStateIsOwnerOnlyUnderUmask022(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	sim := newSim(t, udesktest.Options{Tickets: 120, Seed: 4})
	dir := t.TempDir()
	if code, _, stderr := runCLI(t, simEnv(sim), "export", "--quiet", "-o", filepath.Join(dir, "t.csv")); code != exitOK {
		t.Fatalf("export: exit %d\n%s", code, stderr)
	}
	in := filepath.Join(dir, "in.csv")
	writeCSVTest(t, in, relCreateRows("mode", 2, []string{"a@example.com"}))
	if code, _, stderr := runCLI(t, simEnv(sim), "import", "--create", "-i", in, "--quiet"); code != exitOK {
		t.Fatalf("import: exit %d\n%s", code, stderr)
	}
	var dirs, files int
	err := filepath.WalkDir(filepath.Join(dir, ".udesk-etl"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			dirs++
			if fi.Mode().Perm() != 0o700 {
				t.Errorf("%s: mode %v, want 0700", p, fi.Mode().Perm())
			}
		default:
			files++
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %v, want 0600", p, fi.Mode().Perm())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if dirs < 3 || files < 4 {
		t.Fatalf("%d state folders and %d state files checked: too few to prove anything", dirs, files)
	}
}
