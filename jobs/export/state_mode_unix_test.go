//go:build unix

package export

import (
	"context"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/udesk-etl/udesk-etl/pipeline/pipelinetest"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// Under the usual umask 022, an export's state folders are made 0700 and
// its state files 0600: they name the tenant and hold ticket data.
func TestStateIsOwnerOnlyUnderUmask022(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	sim, c := newSim(t, udesktest.Options{Tickets: 120, Seed: 4})
	dir := t.TempDir()
	if _, err := Run(context.Background(), c, Options{Tenant: sim.URL(), Outputs: []string{filepath.Join(dir, "t.csv")}}); err != nil {
		t.Fatal(err)
	}
	// .udesk-etl, the export's folder, its snapshot: the lock, the pages,
	// the manifest, the catalog, the CSV's originals.
	if dirs, files := pipelinetest.CheckOwnerOnly(t, filepath.Join(dir, ".udesk-etl")); dirs < 3 || files < 4 {
		t.Fatalf("%d state folders and %d state files checked: too few to prove anything", dirs, files)
	}
}
