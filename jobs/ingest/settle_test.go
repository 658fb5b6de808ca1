package ingest_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/udesk-etl/udesk-etl/jobs/ingest"
	"github.com/udesk-etl/udesk-etl/jobs/ingest/ingesttest"
	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// Two rows alike but for their priority, every create reset before or after
// Udesk processed it: each row ends with its own ticket, once.
func TestRunSettlesLookAlikeRowsByEveryField(t *testing.T) {
	faults, err := udesktest.ParseFaults("reset-before@create=0.5,reset-after@create=0.5,seed=4")
	if err != nil {
		t.Fatal(err)
	}
	sim := newSim(t, udesktest.Options{Faults: faults})
	in := filepath.Join(t.TempDir(), "twins.csv")
	ingesttest.WriteCSV(t, in, [][]string{
		{"subject", "content", "email", "priority"},
		{"Password reset", "Please reset my password", "pat@example.com", "低"},
		{"Password reset", "Please reset my password", "pat@example.com", "高"},
	})
	rep := mustImport(t, sim, mapping.Create, ingest.Input{Path: in}, ingest.Options{Concurrency: 1}, 0)
	tickets := sim.Tickets()
	byPriority := map[string][]int64{}
	for _, tk := range tickets {
		byPriority[tk.Priority] = append(byPriority[tk.Priority], tk.ID)
	}
	if len(tickets) != 2 || len(byPriority["低"]) != 1 || len(byPriority["高"]) != 1 {
		t.Fatalf("want one ticket per row with its own priority, got %v", byPriority)
	}
	ok := ingesttest.ReadCSV(t, filepath.Join(rep.Results, "success.csv"))
	for i := range ok {
		ok[i] = ok[i][:3] // then the row's own cells
	}
	want := fmt.Sprint([][]string{{"row", "ticket_id", "action"},
		{"2", fmt.Sprint(byPriority["低"][0]), ingest.ActionCreated},
		{"3", fmt.Sprint(byPriority["高"][0]), ingest.ActionCreated}})
	if fmt.Sprint(ok) != want {
		t.Fatalf("success.csv %v, want %v", ok, want)
	}
}
