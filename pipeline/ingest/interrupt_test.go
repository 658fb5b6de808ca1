package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/pipeline/ingest"
	"github.com/udesk-etl/udesk-etl/pipeline/ingest/ingesttest"
	"github.com/udesk-etl/udesk-etl/udesk"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// Stopping an import while writes are on the wire and others wait for the
// budget: those sent get their outcome, those waiting leave no trace, so
// the journal holds no row in doubt and the re-run just sends the rest.
func TestRunStopLetsWritesOnTheWireFinish(t *testing.T) {
	sim := newSim(t, udesktest.Options{Latency: 300 * time.Millisecond})
	api, err := udesk.NewClient(udesk.Config{BaseURL: sim.URL(), Signer: udesk.NewMD5Signer(sim.Secret()),
		Rate: udesk.Rate{Limit: 10, Burst: 1}})
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(t.TempDir(), "stop.csv")
	recs := [][]string{{"subject", "content", "email"}}
	for i := range 20 {
		recs = append(recs, []string{fmt.Sprint("stop ", i), "x", "pat@example.com"})
	}
	ingesttest.WriteCSV(t, in, recs)
	opts := ingest.Options{Op: mapping.Create, Tenant: sim.URL(), Concurrency: 4, Abort: context.Background()}

	stop, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var rep *ingest.Report
	go func() {
		var err error
		rep, err = ingest.Run(stop, api, ingest.Input{Path: in}, opts)
		done <- err
	}()
	for sim.Requests()[udesktest.EndpointCreate] < 3 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("a stopped import returns context.Canceled, got %v", err)
	}
	st, err := pipeline.ReadJournal(filepath.Join(rep.State, "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	arrived, made := sim.Requests()[udesktest.EndpointCreate], len(sim.Tickets())
	if open := st.Count(pipeline.EntryIntent); open != 0 || st.Count(pipeline.EntryOK) != made || made != arrived || made == len(recs)-1 {
		t.Fatalf("after the stop: %d rows in doubt, %d written, %d tickets, %d creates arrived (want none in doubt, every arrived create written, not all)",
			open, st.Count(pipeline.EntryOK), made, arrived)
	}

	rep, err = ingest.Run(context.Background(), api, ingest.Input{Path: in}, opts)
	if err != nil || rep.Facts["outcome_unknown"] != 0 || rep.Facts["found_after_unknown_outcome"] != 0 {
		t.Fatalf("re-run: %v, facts %v", err, rep.Facts)
	}
	if n := len(sim.Tickets()); n != len(recs)-1 {
		t.Fatalf("%d tickets, want %d", n, len(recs)-1)
	}
}
