package ingest_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/udesk-etl/udesk-etl/jobs/ingest"
	"github.com/udesk-etl/udesk-etl/jobs/ingest/ingesttest"
	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// A state folder that is a symbolic link is refused, also with --fresh: the
// folder it points to keeps its files and its mode.
func TestRunRefusesSymlinkedStateFolder(t *testing.T) {
	sim := newSim(t, udesktest.Options{})
	in := filepath.Join(t.TempDir(), "t.csv")
	ingesttest.WriteCSV(t, in, [][]string{{"subject", "content", "email"}, {"one", "c", "a@example.com"}})
	rep := mustImport(t, sim, mapping.Create, ingest.Input{Path: in}, ingest.Options{}, 0)
	victim := filepath.Join(t.TempDir(), "precious")
	if err := os.Mkdir(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(victim, "keep.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(rep.State); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, rep.State); err != nil {
		t.Fatal(err)
	}
	for _, fresh := range []bool{true, false} {
		_, err := runImport(t, sim, mapping.Create, ingest.Input{Path: in}, ingest.Options{Fresh: fresh})
		var ce *pipeline.ConfigError
		if !errors.As(err, &ce) {
			t.Fatalf("fresh=%v: %v, want a configuration error refusing the link", fresh, err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(victim, "keep.txt")); err != nil || string(b) != "mine" {
		t.Fatalf("the linked folder lost its file: %q %v", b, err)
	}
	if fi, _ := os.Stat(victim); fi.Mode().Perm() != 0o755 {
		t.Fatalf("the linked folder's mode changed to %v", fi.Mode().Perm())
	}
	if n := len(sim.Tickets()); n != 1 {
		t.Fatalf("%d tickets, want 1", n)
	}
}
