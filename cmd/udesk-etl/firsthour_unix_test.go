//go:build unix

package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// fields -o FILE writes the catalog as any output: 0666 narrowed by the
// umask.
func TestFieldsFileHonoursTheUmask(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 1, Seed: 1})
	dir := t.TempDir()
	for _, umask := range []int{0o077, 0o002} {
		old := syscall.Umask(umask)
		out := filepath.Join(dir, "fields.json")
		code, _, stderr := runCLI(t, simEnv(sim), "fields", "-o", out)
		syscall.Umask(old)
		if code != exitOK {
			t.Fatalf("fields -o: exit %d\n%s", code, stderr)
		}
		fi, err := os.Stat(out)
		if err != nil {
			t.Fatal(err)
		}
		if want := os.FileMode(0o666 &^ umask); fi.Mode().Perm() != want {
			t.Errorf("umask %03o: fields.json is %v, want %v", umask, fi.Mode().Perm(), want)
		}
	}
}
