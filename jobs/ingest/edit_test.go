package ingest_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/udesk-etl/udesk-etl/jobs/ingest"
	"github.com/udesk-etl/udesk-etl/jobs/ingest/ingesttest"
	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/sinks"
	"github.com/udesk-etl/udesk-etl/udesk"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// An update from an edited export (its original rows kept beside the CSV,
// as an export leaves them) sends only what changed, leaves alone a ticket
// changed in Udesk since, and lists the changes; the plan shows the same.
func TestRunEditSendsOnlyWhatChanged(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 4, Seed: 5})
	subject := func(id int64) string { tk, _ := sim.Ticket(id); return tk.Subject }
	dir := t.TempDir()
	in := filepath.Join(dir, "edit.csv")
	// Ticket 1 unchanged, 2 and 3 edited, 4 deleted from the file; ticket 3
	// changed in Udesk since the export (its original subject is not Udesk's).
	orig := [][]string{{"id", "subject"}, {"1", subject(1)}, {"2", subject(2)}, {"3", "as exported"}, {"4", subject(4)}}
	if err := pipeline.MakeStateDir(filepath.Dir(sinks.CSVOriginalsPath(in))); err != nil {
		t.Fatal(err)
	}
	ingesttest.WriteCSV(t, sinks.CSVOriginalsPath(in), orig)
	ingesttest.WriteCSV(t, in, [][]string{{"id", "subject"}, {"1", subject(1)}, {"2", "edited two"}, {"3", "edited three"}})
	opts := ingest.Options{Op: mapping.Update, Results: filepath.Join(dir, "plan"), Edit: ingest.EditOptions{CheckConflicts: true}}

	p, err := ingest.Plan(context.Background(), newClient(t, sim), ingest.Input{Path: in}, opts)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	p.Print(&out, udesk.Rate{}, "unlimited")
	if p.Updates != 2 || p.TicketReads != 2 || len(p.Changes) != 2 || p.Facts["unchanged_rows"] != 1 || p.Facts["deleted_rows"] != 1 ||
		!strings.Contains(out.String(), "#2 subject: "+subject(2)+" -> edited two") || !strings.Contains(out.String(), "#4") {
		t.Fatalf("plan %+v:\n%s", p, out.String())
	}
	if n := sim.Requests()[udesktest.EndpointUpdate]; n != 0 {
		t.Fatalf("the plan sent %d updates", n)
	}

	opts.Results, opts.Edit.DiffFile = filepath.Join(dir, "results"), filepath.Join(dir, "diff.csv")
	rep := mustImport(t, sim, mapping.Update, ingest.Input{Path: in}, opts, 1)
	if subject(2) != "edited two" || subject(3) == "edited three" || sim.Requests()[udesktest.EndpointUpdate] != 1 {
		t.Fatalf("tickets 2 %q, 3 %q; %d updates sent, want 1", subject(2), subject(3), sim.Requests()[udesktest.EndpointUpdate])
	}
	if rep.Written != 1 || rep.Skipped != 1 || rep.Facts["conflicts"] != 1 || rep.Facts["changed_fields"] != 2 {
		t.Fatalf("report: %+v", rep)
	}
	errs := ingesttest.ReadCSV(t, filepath.Join(opts.Results, "errors.csv"))
	if len(errs) != 2 || errs[1][0] != "3" || errs[1][2] != mapping.CodeConflict {
		t.Fatalf("errors.csv: %v", errs)
	}
	diff := ingesttest.ReadCSV(t, opts.Edit.DiffFile)
	if len(diff) != 3 || diff[1][1] != "2" || diff[1][2] != "subject" || diff[1][5] != "edited two" || diff[2][4] != "as exported" {
		t.Fatalf("diff: %v", diff)
	}
	if _, err := os.Stat(filepath.Join(opts.Results, "success.csv")); err != nil || !strings.Contains(strings.Join(rep.Notes, "\n"), "1 exported tickets are not in the file") {
		t.Fatalf("notes %v, %v", rep.Notes, err)
	}
}
