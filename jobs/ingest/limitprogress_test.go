package ingest_test

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/udesk-etl/udesk-etl/jobs/ingest"
	"github.com/udesk-etl/udesk-etl/jobs/ingest/ingesttest"
	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// totals is an Observer that keeps the totals its phases were given.
type totals struct {
	pipeline.Quiet
	mu  sync.Mutex
	set map[string]int64
}

func (o *totals) Phase(name, _ string, _ int64) pipeline.Progress {
	return totalOf{o: o, name: name}
}

type totalOf struct {
	pipeline.Progress
	o    *totals
	name string
}

func (p totalOf) Add(int) {}
func (p totalOf) Finish() {}
func (p totalOf) SetTotal(n int64) {
	p.o.mu.Lock()
	defer p.o.mu.Unlock()
	p.o.set[p.name] = n
}

// A --limit pilot's progress counts the rows it handles, not the file's:
// a pilot of 2 rows of 40 is not shown as 2/40 with the ETA of 40.
func TestLimitPilotProgressTotal(t *testing.T) {
	sim := newSim(t, udesktest.Options{})
	in := filepath.Join(t.TempDir(), "t.csv")
	rows := [][]string{{"subject", "content", "email"}}
	for i := range 40 {
		rows = append(rows, []string{fmt.Sprint("s", i), "c", "a@example.com"})
	}
	ingesttest.WriteCSV(t, in, rows)
	obs := &totals{set: map[string]int64{}}
	mustImport(t, sim, mapping.Create, ingest.Input{Path: in}, ingest.Options{Limit: 2, Observer: obs}, 0)
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if got := obs.set["import"]; got != 2 {
		t.Fatalf("the pilot's progress total is %d, want 2 (totals %v)", got, obs.set)
	}
}
