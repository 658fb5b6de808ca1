package ingest_test

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/jobs/ingest"
	"github.com/udesk-etl/udesk-etl/jobs/ingest/ingesttest"
	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/sinks"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// totals is an Observer that keeps the totals its phases were given and
// the units they counted done.
type totals struct {
	pipeline.Quiet
	mu    sync.Mutex
	set   map[string]int64
	added map[string]int64
}

func (o *totals) Phase(name, _ string, _ int64) pipeline.Progress {
	return totalOf{o: o, name: name}
}

type totalOf struct {
	pipeline.Progress
	o    *totals
	name string
}

func (p totalOf) Add(n int) {
	p.o.mu.Lock()
	defer p.o.mu.Unlock()
	p.o.added[p.name] += int64(n)
}
func (p totalOf) Finish() {}
func (p totalOf) SetTotal(n int64) {
	p.o.mu.Lock()
	defer p.o.mu.Unlock()
	p.o.set[p.name] = n
}

// A --limit pilot's progress counts the rows it handles, not the file's:
// a pilot of 2 rows of 40 is not shown as 2/40 with the ETA of 40.
func TestLimitPilotProgressTotal(t *testing.T) {
	// Replies take a while, so that the background count ends first.
	sim := newSim(t, udesktest.Options{Latency: 50 * time.Millisecond})
	in := filepath.Join(t.TempDir(), "t.csv")
	rows := [][]string{{"subject", "content", "email"}}
	for i := range 40 {
		rows = append(rows, []string{fmt.Sprint("s", i), "c", "a@example.com"})
	}
	ingesttest.WriteCSV(t, in, rows)
	obs := &totals{set: map[string]int64{}, added: map[string]int64{}}
	mustImport(t, sim, mapping.Create, ingest.Input{Path: in}, ingest.Options{Limit: 2, Observer: obs}, 0)
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if got := obs.set["import"]; got != 2 {
		t.Fatalf("the pilot's progress total is %d, want 2 (totals %v)", got, obs.set)
	}
}

// A round trip's progress is of the rows it sends: the unchanged rows cost
// nothing, and counting them at the write rate made the ETA many times too
// long when the edited rows come first.
func TestRoundTripProgressCountsTheRowsToSend(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 40, Seed: 5, Latency: 50 * time.Millisecond})
	dir := t.TempDir()
	in := filepath.Join(dir, "edit.csv")
	orig := [][]string{{"id", "subject"}}
	edited := [][]string{{"id", "subject"}}
	for _, tk := range sim.Tickets() {
		orig = append(orig, []string{fmt.Sprint(tk.ID), tk.Subject})
		subject := tk.Subject
		if len(edited) <= 3 {
			subject += " (edited)"
		}
		edited = append(edited, []string{fmt.Sprint(tk.ID), subject})
	}
	if err := pipeline.MakeStateDir(filepath.Dir(sinks.CSVOriginalsPath(in))); err != nil {
		t.Fatal(err)
	}
	ingesttest.WriteCSV(t, sinks.CSVOriginalsPath(in), orig)
	ingesttest.WriteCSV(t, in, edited)
	obs := &totals{set: map[string]int64{}, added: map[string]int64{}}
	rep := mustImport(t, sim, mapping.Update, ingest.Input{Path: in}, ingest.Options{Observer: obs, Results: filepath.Join(dir, "results")}, 0)
	if rep.Written != 3 || rep.Skipped != 37 {
		t.Fatalf("report %+v", rep.Report)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.set["import"] != 3 || obs.added["import"] != 3 {
		t.Fatalf("progress total %d, done %d; want 3 and 3 (the rows sent)", obs.set["import"], obs.added["import"])
	}
}
