package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/jobs/ingest"
	"github.com/udesk-etl/udesk-etl/jobs/ingest/ingesttest"
	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// Stopping an import while writes are on the wire and others wait for the
// budget: those sent get their outcome, those waiting leave no trace, so
// the journal holds no row in doubt and the re-run just sends the rest,
// with no outcome_unknown (a reply in doubt could not be settled).
func TestRunStopLetsWritesOnTheWireFinish(t *testing.T) {
	for _, tc := range []struct {
		op       mapping.OpKind
		endpoint string
	}{{mapping.Create, udesktest.EndpointCreate}, {mapping.Reply, udesktest.EndpointReply}} {
		t.Run(tc.op.String(), func(t *testing.T) {
			sim := newSim(t, udesktest.Options{Tickets: 3, Seed: 1, Latency: 300 * time.Millisecond})
			api, err := udesk.NewClient(udesk.Config{BaseURL: sim.URL(), Signer: udesk.NewMD5Signer(sim.Secret()),
				Rate: udesk.Rate{Limit: 10, Burst: 1}})
			if err != nil {
				t.Fatal(err)
			}
			target, _ := sim.Ticket(2)
			in := filepath.Join(t.TempDir(), "stop.csv")
			recs := [][]string{{"subject", "content", "email"}}
			if tc.op == mapping.Reply {
				recs = [][]string{{"id", "reply_content", "email"}}
			}
			for i := range 20 {
				if tc.op == mapping.Reply {
					recs = append(recs, []string{"2", fmt.Sprint("reply ", i), target.UserEmail})
				} else {
					recs = append(recs, []string{fmt.Sprint("stop ", i), "x", "pat@example.com"})
				}
			}
			ingesttest.WriteCSV(t, in, recs)
			opts := ingest.Options{Op: tc.op, Tenant: sim.URL(), Concurrency: 4, Abort: context.Background()}
			// Writes that took effect: tickets made, or replies added.
			count := func() int {
				if tc.op == mapping.Reply {
					return len(sim.Replies(2))
				}
				return len(sim.Tickets())
			}
			before := count()
			written := func() int { return count() - before }

			stop, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			var rep *ingest.Report
			go func() {
				var err error
				rep, err = ingest.Run(stop, api, ingest.Input{Path: in}, opts)
				done <- err
			}()
			for sim.Requests()[tc.endpoint] < 3 {
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
			arrived, made := sim.Requests()[tc.endpoint], written()
			if open := st.Count(pipeline.EntryIntent); open != 0 || st.Count(pipeline.EntryOK) != made || made != arrived || made == len(recs)-1 {
				t.Fatalf("after the stop: %d rows in doubt, %d written, %d took effect, %d arrived (want none in doubt, every arrived write written, not all)",
					open, st.Count(pipeline.EntryOK), made, arrived)
			}

			rep, err = ingest.Run(context.Background(), api, ingest.Input{Path: in}, opts)
			if err != nil || rep.Failed != 0 || rep.Facts["outcome_unknown"] != 0 || rep.Facts["found_after_unknown_outcome"] != 0 {
				t.Fatalf("re-run: %v, %d failed, facts %v", err, rep.Failed, rep.Facts)
			}
			if n := written(); n != len(recs)-1 {
				t.Fatalf("%d writes took effect, want %d", n, len(recs)-1)
			}
		})
	}
}
