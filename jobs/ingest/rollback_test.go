package ingest_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strconv"
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

// snapshot is the simulator's tickets by id.
func snapshot(sim *udesktest.Server) map[int64]udesktest.Ticket {
	m := map[int64]udesktest.Ticket{}
	for _, tk := range sim.Tickets() {
		m[tk.ID] = tk
	}
	return m
}

// undo imports rollback.csv of res as an update and wants the tickets'
// subject and priority as in before.
func undo(t *testing.T, sim *udesktest.Server, res string, before map[int64]udesktest.Ticket, changed int) {
	t.Helper()
	rb := filepath.Join(res, "rollback.csv")
	if recs := ingesttest.ReadCSV(t, rb); len(recs) != changed+1 || recs[0][0] != "id" {
		t.Fatalf("rollback.csv: %v", recs)
	}
	mustImport(t, sim, mapping.Update, ingest.Input{Path: rb}, ingest.Options{Results: filepath.Join(res, "undo")}, 0)
	for id, tk := range snapshot(sim) {
		if b := before[id]; tk.Subject != b.Subject || tk.Priority != b.Priority {
			t.Errorf("ticket %d after the rollback: %q %q, before %q %q", id, tk.Subject, tk.Priority, b.Subject, b.Priority)
		}
	}
}

// A round-trip edit's rollback.csv holds the exported values of the fields
// it changes; a ticket the conflict check left alone is not in it (undoing
// it would overwrite the change made in Udesk since the export).
func TestRollbackOfARoundTrip(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 3, Seed: 2})
	before := snapshot(sim)
	dir := t.TempDir()
	in := filepath.Join(dir, "edit.csv")
	orig := [][]string{{"id", "subject", "priority"}}
	for id := int64(1); id <= 3; id++ {
		orig = append(orig, []string{strconv.FormatInt(id, 10), before[id].Subject, before[id].Priority})
	}
	if err := pipeline.MakeStateDir(filepath.Dir(sinks.CSVOriginalsPath(in))); err != nil {
		t.Fatal(err)
	}
	edited := [][]string{orig[0], {"1", "new one", orig[1][2]}, {"2", orig[2][1], "urgency"}, {"3", "edited three", orig[3][2]}}
	orig[3][1] = "as exported" // ticket 3 changed in Udesk since
	ingesttest.WriteCSV(t, sinks.CSVOriginalsPath(in), orig)
	ingesttest.WriteCSV(t, in, edited)
	res := filepath.Join(dir, "res")
	mustImport(t, sim, mapping.Update, ingest.Input{Path: in}, ingest.Options{Results: res, Edit: ingest.EditOptions{CheckConflicts: true}}, 1)
	if tk, _ := sim.Ticket(1); tk.Subject != "new one" {
		t.Fatalf("the edit was not applied: %+v", tk)
	}
	undo(t, sim, res, before, 2)
}

// A plain update with Rollback reads each ticket first; the plan says so.
func TestRollbackOfAPlainUpdate(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 4, Seed: 3})
	before := snapshot(sim)
	dir := t.TempDir()
	in := filepath.Join(dir, "upd.csv")
	ingesttest.WriteCSV(t, in, [][]string{{"id", "subject", "priority"}, {"1", "s1", "紧急"}, {"2", before[2].Subject, before[2].Priority}, {"3", "s3", ""}})
	opts := ingest.Options{Op: mapping.Update, Rollback: true, Tenant: sim.URL(), Results: filepath.Join(dir, "dry")}
	p, err := ingest.Plan(context.Background(), newClient(t, sim), ingest.Input{Path: in}, opts)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	p.Print(&out, udesk.Rate{}, "unlimited")
	if p.RollbackReads != 3 || !strings.Contains(out.String(), "3 ticket reads (--rollback") {
		t.Fatalf("plan %+v:\n%s", p, out.String())
	}
	res := filepath.Join(dir, "res")
	mustImport(t, sim, mapping.Update, ingest.Input{Path: in}, ingest.Options{Rollback: true, Results: res}, 0)
	if sim.Requests()[udesktest.EndpointTicket] != 3 {
		t.Errorf("%d ticket reads, want 3", sim.Requests()[udesktest.EndpointTicket])
	}
	// Ticket 2 already held the row's values: nothing of it to undo.
	undo(t, sim, res, before, 2)
}
