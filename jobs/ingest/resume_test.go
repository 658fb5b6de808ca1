package ingest_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/jobs/ingest"
	"github.com/udesk-etl/udesk-etl/jobs/ingest/ingesttest"
	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/pipeline/pipelinetest"
	"github.com/udesk-etl/udesk-etl/udesk"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// The state an interrupted run left (written here by hand, in the layout
// the package comment documents) is found and resumed: a written row is not
// sent again, a row in doubt is looked up and found, the rest is sent.
func TestRunResumesTheStateAnInterruptedRunLeft(t *testing.T) {
	sim := newSim(t, udesktest.Options{})
	client := newClient(t, sim)
	ctx := context.Background()
	dir := t.TempDir()
	in := filepath.Join(dir, "t.csv")
	ingesttest.WriteCSV(t, in, [][]string{{"subject", "content", "email"}, {"same", "c", "a@example.com"}, {"same", "c", "a@example.com"}, {"three", "c3", "a@example.com"}})

	// The earlier run: row 2 written, row 3 sent (and taken) without an answer.
	state := pipeline.StateDir(in, "import-create", sim.URL(), pipeline.AbsPath(in), "create", "", pipeline.AbsPath(""))
	if err := pipeline.MakeStateDir(state); err != nil {
		t.Fatal(err)
	}
	fields, err := client.Fields(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var fb strings.Builder
	udesk.WriteFields(&fb, fields)
	os.WriteFile(filepath.Join(state, "fields.json"), []byte(fb.String()), 0o600)
	b, _ := os.ReadFile(in)
	sum := sha256.Sum256(b)
	started := time.Now().Add(-time.Minute)
	results := filepath.Join(dir, "results")
	j, err := pipeline.CreateJournal(filepath.Join(state, "journal.jsonl"), pipeline.JournalHeader{Op: "create", RunID: "earlier", Input: in,
		InputSHA256: hex.EncodeToString(sum[:]), InputSize: int64(len(b)), Started: started, Meta: map[string]string{"results": results, "marker_field": ""}})
	if err != nil {
		t.Fatal(err)
	}
	// Rows 2 and 3 are alike: settling row 3 must not take row 2's ticket.
	one, _ := client.CreateTicket(ctx, &udesk.NewTicket{Subject: "same", Content: "c", Email: "a@example.com"})
	two, _ := client.CreateTicket(ctx, &udesk.NewTicket{Subject: "same", Content: "c", Email: "a@example.com"})
	for _, e := range []pipeline.JournalEntry{
		{Type: pipeline.EntryIntent, Row: 2, At: started}, {Type: pipeline.EntryOK, Row: 2, TicketID: one, Action: ingest.ActionCreated},
		{Type: pipeline.EntryIntent, Row: 3, At: started},
	} {
		if err := j.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()

	var l pipelinetest.Log
	rep := mustImport(t, sim, mapping.Create, ingest.Input{Path: in}, ingest.Options{Observer: &l}, 0)
	if rep.State != state || rep.Results != results || !strings.Contains(l.String(), "resuming: 1 rows written, 1 in doubt") {
		t.Fatalf("report %+v, log:\n%s", rep, l.String())
	}
	if rep.Read != 3 || rep.Written != 2 || rep.Skipped != 1 || rep.Facts["found_after_unknown_outcome"] != 1 {
		t.Fatalf("report: %+v", rep)
	}
	got := ingesttest.TicketsBySubject(sim)
	if len(sim.Tickets()) != 3 || len(got["three"]) != 1 || len(got["same"]) != 2 {
		t.Fatalf("tickets: %+v", sim.Tickets())
	}
	ok := ingesttest.ReadCSV(t, filepath.Join(results, "success.csv"))
	if len(ok) != 4 || ok[1][1] != strconv.FormatInt(one, 10) || ok[2][1] != strconv.FormatInt(two, 10) {
		t.Fatalf("success.csv: %v", ok)
	}
	st, err := pipeline.ReadJournal(filepath.Join(state, "journal.jsonl"))
	if err != nil || !st.Complete {
		t.Fatalf("journal not complete: %v", err)
	}
}
