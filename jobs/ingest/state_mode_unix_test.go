//go:build unix

package ingest_test

import (
	"fmt"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/udesk-etl/udesk-etl/jobs/ingest"
	"github.com/udesk-etl/udesk-etl/jobs/ingest/ingesttest"
	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline/pipelinetest"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// Under the usual umask 022, an import's state folders are made 0700 and
// its state files 0600: they name the tenant and hold ticket data.
func TestStateIsOwnerOnlyUnderUmask022(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	sim := newSim(t, udesktest.Options{})
	in := filepath.Join(t.TempDir(), "in.csv")
	recs := [][]string{{"subject", "content", "email"}}
	for i := range 2 {
		recs = append(recs, []string{fmt.Sprintf("mode-%d", i), "body", "a@example.com"})
	}
	ingesttest.WriteCSV(t, in, recs)
	mustImport(t, sim, mapping.Create, ingest.Input{Path: in}, ingest.Options{}, 0)
	// .udesk-etl, the import's folder: the lock, the catalog, the journal.
	if dirs, files := pipelinetest.CheckOwnerOnly(t, filepath.Join(filepath.Dir(in), ".udesk-etl")); dirs < 2 || files < 3 {
		t.Fatalf("%d state folders and %d state files checked: too few to prove anything", dirs, files)
	}
}
