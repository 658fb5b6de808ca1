package ingest_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/udesk-etl/udesk-etl/jobs/ingest"
	"github.com/udesk-etl/udesk-etl/jobs/ingest/ingesttest"
	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// --limit works on every import: a create pilot of 2 rows, then the same
// import without it creates the other 3, none twice; the job is the same.
func TestCreateLimitThenTheRest(t *testing.T) {
	sim := newSim(t, udesktest.Options{})
	in := filepath.Join(t.TempDir(), "t.csv")
	ingesttest.WriteCSV(t, in, [][]string{{"subject", "content", "email"},
		{"s1", "c", "a@example.com"}, {"s2", "c", "a@example.com"}, {"s3", "c", "a@example.com"}, {"s4", "c", "a@example.com"}, {"s5", "c", "a@example.com"}})
	rep := mustImport(t, sim, mapping.Create, ingest.Input{Path: in}, ingest.Options{Limit: 2}, 0)
	if rep.Written != 2 || len(sim.Tickets()) != 2 || !strings.Contains(strings.Join(rep.Notes, "\n"), "without --limit to continue") {
		t.Fatalf("pilot: %+v, %d tickets", rep.Report, len(sim.Tickets()))
	}
	rep = mustImport(t, sim, mapping.Create, ingest.Input{Path: in}, ingest.Options{}, 0)
	if rep.Written != 3 || rep.Skipped != 2 || rep.AlreadyImported {
		t.Fatalf("the rest: %+v", rep.Report)
	}
	for s, tk := range ingesttest.TicketsBySubject(sim) {
		if len(tk) != 1 {
			t.Errorf("%s: %d tickets", s, len(tk))
		}
	}
	if len(sim.Tickets()) != 5 {
		t.Errorf("%d tickets, want 5", len(sim.Tickets()))
	}
	rep = mustImport(t, sim, mapping.Create, ingest.Input{Path: in}, ingest.Options{}, 0)
	if !rep.AlreadyImported {
		t.Errorf("a third run: %+v, want already imported", rep.Report)
	}
}
