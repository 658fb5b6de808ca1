package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/jobs/ingest"
	"github.com/udesk-etl/udesk-etl/jobs/ingest/ingesttest"
	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// An import is one job whatever the spelling of the tenant's URL or of the
// input's path: a finished one run again another way sends nothing.
func TestRunSameImportAnySpelling(t *testing.T) {
	sim := newSim(t, udesktest.Options{})
	dir, link := ingesttest.LinkedDir(t)
	in := filepath.Join(dir, "t.csv")
	ingesttest.WriteCSV(t, in, [][]string{{"subject", "content", "email"}, {"one", "c", "a@example.com"}, {"two", "c", "a@example.com"}})
	mustImport(t, sim, mapping.Create, ingest.Input{Path: in}, ingest.Options{}, 0)
	upper := "HTTP://" + strings.TrimPrefix(sim.URL(), "http://") + "/"
	for _, spelling := range []struct{ tenant, path string }{
		{sim.URL() + "/", in},
		{upper, filepath.Join(link, "t.csv")},
	} {
		rep, err := ingest.Run(context.Background(), newClient(t, sim), ingest.Input{Path: spelling.path},
			ingest.Options{Op: mapping.Create, Tenant: spelling.tenant})
		if err != nil || !rep.AlreadyImported || rep.Written != 2 {
			t.Errorf("%s with %s: %v, %+v; want already imported (2 written)", spelling.path, spelling.tenant, err, rep)
		}
	}
	if n := len(sim.Tickets()); n != 2 {
		t.Fatalf("%d tickets, want 2", n)
	}
}

// Two runs of one import at once: the second (even with Fresh) stops before
// it reads or sends anything, naming the first's state folder, which it
// leaves alone; the first finishes every row once.
func TestRunSecondRunAtOnceIsRefused(t *testing.T) {
	sim := newSim(t, udesktest.Options{Latency: 30 * time.Millisecond})
	in := filepath.Join(t.TempDir(), "t.csv")
	recs := [][]string{{"subject", "content", "email"}}
	for i := 0; i < 20; i++ {
		recs = append(recs, []string{fmt.Sprintf("row-%02d", i), "c", "a@example.com"})
	}
	ingesttest.WriteCSV(t, in, recs)
	type result struct {
		rep *ingest.Report
		err error
	}
	first := make(chan result, 1)
	go func() {
		rep, err := ingest.Run(context.Background(), newClient(t, sim), ingest.Input{Path: in}, ingest.Options{Op: mapping.Create, Tenant: sim.URL(), Concurrency: 1})
		first <- result{rep, err}
	}()
	for sim.Requests()[udesktest.EndpointCreate] == 0 {
		time.Sleep(5 * time.Millisecond) // until the first run is sending
	}
	var errs []error
	for _, fresh := range []bool{false, true} {
		_, err := ingest.Run(context.Background(), newClient(t, sim), ingest.Input{Path: in}, ingest.Options{Op: mapping.Create, Tenant: sim.URL() + "/", Fresh: fresh})
		errs = append(errs, err)
	}
	r := <-first
	if r.err != nil || r.rep.Written != 20 {
		t.Fatalf("first run: %v, %+v", r.err, r.rep)
	}
	for _, err := range errs {
		var le *pipeline.LockedError
		if !errors.As(err, &le) || le.Dir != r.rep.State {
			t.Errorf("second run: %v, want a *pipeline.LockedError naming %s", err, r.rep.State)
		}
	}
	if n := len(sim.Tickets()); n != 20 {
		t.Errorf("%d tickets for 20 rows", n)
	}
	rep, err := runImport(t, sim, mapping.Create, ingest.Input{Path: in}, ingest.Options{})
	if err != nil || !rep.AlreadyImported {
		t.Fatalf("third run: %v, %+v; want already imported", err, rep)
	}
}

// A run killed while writing a state file leaves its temp file; the next run
// of the import, holding the lock, removes it.
func TestRunRemovesAKilledRunsTempFiles(t *testing.T) {
	sim := newSim(t, udesktest.Options{})
	in := filepath.Join(t.TempDir(), "t.csv")
	ingesttest.WriteCSV(t, in, [][]string{{"subject", "content", "email"}, {"one", "c", "a@example.com"}})
	rep := mustImport(t, sim, mapping.Create, ingest.Input{Path: in}, ingest.Options{}, 0)
	temp := filepath.Join(rep.State, ".fields.json.tmp-12345")
	if err := os.WriteFile(temp, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if rep, err := runImport(t, sim, mapping.Create, ingest.Input{Path: in}, ingest.Options{}); err != nil || !rep.AlreadyImported {
		t.Fatalf("re-run: %v %+v", err, rep)
	}
	if _, err := os.Stat(temp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the killed run's temp file is still there: %v", err)
	}
}
