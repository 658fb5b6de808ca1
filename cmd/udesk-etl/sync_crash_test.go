package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/jobs/dataset"
	"github.com/udesk-etl/udesk-etl/jobs/dataset/datasettest"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// TestSyncSurvivesSIGKILL kills the real binary at seeded random moments of
// a second sync (fetching, then committing), and checks after every kill
// that the dataset holds only whole runs, and at the end that the rerun
// committed the run the first attempt started, with the changes made.
func TestSyncSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := binary(t)
	sim := newSim(t, udesktest.Options{Tickets: 3000, Seed: 12, Latency: 10 * time.Millisecond})
	dir := t.TempDir()
	ds := filepath.Join(dir, "ds")
	if code, _, stderr := runCLI(t, simEnv(sim), "sync", "--quiet", "--dataset", ds); code != exitOK {
		t.Fatalf("first sync: exit %d\n%s", code, stderr)
	}
	sim.Mutate(udesktest.Mutation{Seed: 3, Update: 30, Delete: 5, Create: 8})

	seed := time.Now().UnixNano()
	t.Logf("kill seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 2))
	env := append(os.Environ(), "UDESK_URL="+sim.URL(), "UDESK_SECRET="+sim.Secret(), "UDESK_RATE=unlimited")
	var firstRun string // the run the first attempt started
	kills := 0
	for attempt := 1; ; attempt++ {
		if attempt > 10 {
			t.Fatal("the sync never finished")
		}
		cmd := exec.Command(bin, "sync", "--quiet", "--dataset", ds)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		var point string
		switch {
		case kills < 2: // while fetching
			target := 1 + rng.IntN(12)
			base := sim.Requests()[udesktest.EndpointList]
			point = fmt.Sprintf("after %d more page requests", target)
			killWhen(cmd, stop, func() bool { return sim.Requests()[udesktest.EndpointList]-base >= target }, 0)
		case kills < 4: // while committing: the commit's staging folder exists
			pause := time.Duration(rng.Int64N(int64(80 * time.Millisecond)))
			point = fmt.Sprintf("%v into the commit", pause)
			killWhen(cmd, stop, func() bool {
				staged, _ := filepath.Glob(filepath.Join(dir, ".udesk-etl", "*", "snap-*", "dataset-*"))
				return len(staged) > 0
			}, pause)
		}
		err := cmd.Wait()
		close(stop)
		if firstRun == "" {
			firstRun = stateRun(t, dir)
		}
		runs := wholeRuns(t, ds)
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				kills++
				t.Logf("attempt %d killed %s; %d runs published", attempt, point, len(runs))
				continue
			}
			t.Fatalf("attempt %d: %v\n%s", attempt, err, stderr.String())
		}
		if len(runs) != 2 || runs[1].Run != firstRun {
			t.Fatalf("after the final attempt: runs %+v, want the first attempt's run %s", runs, firstRun)
		}
		if want := (dataset.Counts{Tickets: 3003, Inserted: 8, Updated: 30, Deleted: 5, Unchanged: 2965}); runs[1].Counts != want {
			t.Fatalf("the resumed run's counts %+v, want %+v", runs[1].Counts, want)
		}
		break
	}
	if kills < 2 {
		t.Fatalf("only %d kills landed (seed above)", kills)
	}
}

// stateRun is the run named by the sync's state of a run not completed,
// "" when there is none.
func stateRun(t *testing.T, dir string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, ".udesk-etl", "*", "snap-*", "sync.json"))
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(filepath.Dir(f), "COMPLETE")); err == nil {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var st struct{ Started time.Time }
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatal(err)
		}
		return dataset.RunID(st.Started)
	}
	return ""
}

// wholeRuns returns the dataset's published runs after checking that each
// one's three tables are complete files, its snapshot as many rows as its
// line says.
func wholeRuns(t *testing.T, ds string) []dataset.Run {
	t.Helper()
	s, err := dataset.Open(context.Background(), ds)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	runs, err := s.Published(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range runs {
		for _, table := range []string{dataset.TableTickets, dataset.TableChanges} {
			schema, records, err := s.Scan(context.Background(), table, r.Run)
			if err != nil {
				t.Fatalf("run %s: %s: %v", r.Run, table, err)
			}
			_, rows := datasettest.ReadRecords(t, schema, records)
			n := int64(len(rows))
			if table == dataset.TableTickets && n != r.Counts.Tickets {
				t.Fatalf("run %s: snapshot has %d rows, its summary says %d", r.Run, n, r.Counts.Tickets)
			}
			if c := r.Counts; table == dataset.TableChanges && i > 0 && n != c.Inserted+c.Updated+c.Deleted {
				t.Fatalf("run %s: %d change rows, its summary says %+v", r.Run, n, c)
			}
		}
	}
	return runs
}
