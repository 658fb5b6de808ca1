package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/jobs/dataset/datasettest"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// TestSyncIcebergTwoSyncsAtOnce starts two syncs of one dataset at the
// same moment from two state folders, again and again, into a folder and a
// bucket: the same command, the URL spelled localhost instead of
// 127.0.0.1, and another selector. Each time exactly one commits a run
// (the other exits 1 naming the holder, or 2 for the other selector), and
// tickets gains one snapshot per success: none lost, none doubled.
func TestSyncIcebergTwoSyncsAtOnce(t *testing.T) {
	trials := 20
	if testing.Short() {
		trials = 2 // the same command, then the localhost spelling
	}
	t.Run("folder", func(t *testing.T) {
		ds := filepath.Join(t.TempDir(), "ds")
		iceRace(t, ds, ds, nil, trials)
	})
	t.Run("s3", func(t *testing.T) {
		bucket, files := datasettest.StartS3(t)
		buckets := map[string]string{strings.TrimPrefix(bucket, "s3://"): files}
		iceRace(t, bucket+"/race", filepath.Join(files, "race"), buckets, trials)
	})
}

func iceRace(t *testing.T, target, local string, buckets map[string]string, trials int) {
	sim := newSim(t, udesktest.Options{Tickets: 400, Seed: 41, Latency: 5 * time.Millisecond})
	bin := binary(t)
	env := append(os.Environ(), "UDESK_SECRET="+sim.Secret(), "UDESK_RATE=unlimited")
	first, second := t.TempDir(), t.TempDir()
	if killed, stderr := iceAttempt(t, bin, slices.Concat(env, []string{"UDESK_URL=" + sim.URL()}), first, nil, "sync", "--quiet", "--dataset", target); killed {
		t.Fatalf("first sync: %s", stderr)
	}
	seen := iceConsistent(t, local, buckets, nil)
	localhost := strings.Replace(sim.URL(), "127.0.0.1", "localhost", 1)
	refused := 0
	for trial := range trials {
		sim.Mutate(udesktest.Mutation{Seed: int64(100 + trial), Update: 5})
		a := []string{"UDESK_URL=" + sim.URL()}
		b := a
		argsB := []string{"sync", "--quiet", "--dataset", target}
		variant := "the same command"
		switch trial % 3 {
		case 1:
			b, variant = []string{"UDESK_URL=" + localhost}, "the URL spelled localhost"
		case 2:
			argsB, variant = append(argsB, "--filter", "1"), "another selector (--filter 1)"
		}
		var wg sync.WaitGroup
		codes := make([]int, 2)
		errs := make([]string, 2)
		start := make(chan struct{})
		for i, job := range []struct {
			env  []string
			dir  string
			args []string
		}{{slices.Concat(env, a), first, []string{"sync", "--quiet", "--dataset", target}}, {slices.Concat(env, b), second, argsB}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				cmd := exec.CommandContext(ctx, bin, job.args...)
				cmd.Env, cmd.Dir = job.env, job.dir
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				<-start
				err := cmd.Run()
				codes[i], errs[i] = cmd.ProcessState.ExitCode(), stderr.String()
				if err != nil && cmd.ProcessState == nil {
					codes[i], errs[i] = -1, err.Error()
				}
			}()
		}
		close(start)
		wg.Wait()
		wins := 0
		for i, c := range codes {
			switch {
			case c == exitOK:
				wins++
			case c == exitFailed || (c == exitUsage && trial%3 != 0):
				if strings.TrimSpace(errs[i]) == "" {
					t.Fatalf("trial %d (%s): sync %d exited %d saying nothing", trial+1, variant, i+1, c)
				}
			default:
				t.Fatalf("trial %d (%s): sync %d exited %d:\n%s", trial+1, variant, i+1, c, errs[i])
			}
		}
		now := iceConsistent(t, local, buckets, seen)
		if got := len(now) - len(seen); got != wins {
			t.Fatalf("trial %d (%s): %d syncs succeeded, tickets gained %d snapshots (exits %v)\n%s\n%s",
				trial+1, variant, wins, got, codes, errs[0], errs[1])
		}
		if wins == 0 {
			t.Fatalf("trial %d (%s): neither sync committed (exits %v)\n%s\n%s", trial+1, variant, codes, errs[0], errs[1])
		}
		if wins == 1 {
			refused++
		}
		// The run that won has the trial's 5 updates (a second success,
		// started after the first ended, has none).
		tbl := readIceTable(t, filepath.Join(local, iceTickets), buckets)
		if s := tbl.RunSnapshot(t, now[len(seen)]); s.Summary["udesk.updated"] != "5" {
			t.Fatalf("trial %d (%s): the committed run's summary %v, want 5 updated", trial+1, variant, s.Summary)
		}
		seen = now
	}
	t.Logf("%d of %d trials had one sync refused while the other ran", refused, trials)
	if refused < (trials+1)/2 {
		t.Fatalf("only %d of %d trials ran the two syncs at once", refused, trials)
	}
}

// TestSyncIcebergRefusesAnotherTenant: a dataset knows whose it is.
func TestSyncIcebergRefusesAnotherTenant(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 150, Seed: 51})
	other := newSim(t, udesktest.Options{Tickets: 150, Seed: 52})
	ds := filepath.Join(t.TempDir(), "ds")
	if code, _, stderr := runCLI(t, simEnv(sim), "sync", "--quiet", "--dataset", ds); code != exitOK {
		t.Fatalf("first sync: exit %d\n%s", code, stderr)
	}
	before := readIceTable(t, filepath.Join(ds, iceTickets), nil).Runs()
	code, _, stderr := runCLI(t, simEnv(other), "sync", "--quiet", "--dataset", ds)
	hostOf := func(u string) string { return strings.TrimPrefix(u, "http://") }
	if code != exitUsage || !strings.Contains(stderr, hostOf(sim.URL())) || !strings.Contains(stderr, hostOf(other.URL())) {
		t.Fatalf("a sync of another tenant: exit %d, want %d naming %s and %s:\n%s", code, exitUsage, sim.URL(), other.URL(), stderr)
	}
	if after := readIceTable(t, filepath.Join(ds, iceTickets), nil).Runs(); len(after) != len(before) {
		t.Fatalf("the refused sync committed: runs %v, then %v", before, after)
	}
	// The dataset's own tenant still syncs.
	if code, _, stderr := runCLI(t, simEnv(sim), "sync", "--quiet", "--dataset", ds); code != exitOK {
		t.Fatalf("the tenant's next sync: exit %d\n%s", code, stderr)
	}
}

// TestSyncIcebergClockAheadDoesNotBlock: a run started with the clock an
// hour ahead commits; the next run, on the right clock, is not blocked by
// it, and has the exact counts of the changes made between.
// UDESK_TEST_CLOCK_OFFSET (read only by tests' in-process runs, through the
// app's environment) moves the sync's clock.
func TestSyncIcebergClockAheadDoesNotBlock(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 250, Seed: 71})
	ds := filepath.Join(t.TempDir(), "ds")
	env := simEnv(sim)
	if code, _, stderr := runCLI(t, env, "sync", "--quiet", "--dataset", ds); code != exitOK {
		t.Fatalf("first sync: exit %d\n%s", code, stderr)
	}
	ahead := simEnv(sim)
	ahead["UDESK_TEST_CLOCK_OFFSET"] = "1h"
	sim.Mutate(udesktest.Mutation{Seed: 72, Update: 3})
	if code, _, stderr := runCLI(t, ahead, "sync", "--quiet", "--dataset", ds); code != exitOK {
		t.Fatalf("the sync an hour ahead: exit %d\n%s", code, stderr)
	}
	runs := readIceTable(t, filepath.Join(ds, iceTickets), nil).Runs()
	future, err := time.Parse("20060102T150405Z", runs[len(runs)-1])
	if err != nil || future.Before(time.Now().Add(50*time.Minute)) {
		t.Fatalf("the run with the clock an hour ahead is %q: the tool does not read UDESK_TEST_CLOCK_OFFSET "+
			"(a test hook the clock tests need)", runs[len(runs)-1])
	}
	mut := sim.Mutate(udesktest.Mutation{Seed: 73, Update: 4, Delete: 1, Create: 2})
	code, _, stderr := runCLI(t, env, "sync", "--quiet", "--dataset", ds)
	if code != exitOK {
		t.Fatalf("the sync after a run an hour ahead: exit %d\n%s", code, stderr)
	}
	after := readIceTable(t, filepath.Join(ds, iceTickets), nil)
	if got := after.Runs(); len(got) != len(runs)+1 {
		t.Fatalf("runs %v after %v: the run on the right clock did not commit once", got, runs)
	}
	s := after.CurrentSnapshot()
	want := iceCountsOf(map[string]int{"inserted": len(mut.Created), "updated": len(mut.Updated), "deleted": len(mut.Deleted),
		"unchanged": len(sim.Tickets()) - len(mut.Created) - len(mut.Updated)})
	if got := iceCounts(s); got != want {
		t.Fatalf("the run after the one ahead: %s, want %s", got, want)
	}
	if code, _, stderr := runCLI(t, env, "sync", "--quiet", "--fresh", "--dataset", ds); code != exitOK {
		t.Fatalf("--fresh: exit %d\n%s", code, stderr)
	}
}
