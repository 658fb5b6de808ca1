package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/internal/exporttest"
	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// heldPages lists the page numbers of the list endpoint whose replies the
// state folder holds and that no later request may ask for again: every
// page but 1, and page 1 only once its end check is held too.
func heldPages(t *testing.T, dir string) map[int]bool {
	t.Helper()
	snaps, err := filepath.Glob(filepath.Join(dir, ".udesk-etl", "*", "snap-*"))
	if err != nil {
		t.Fatal(err)
	}
	held := map[int]bool{}
	check := false
	for _, snap := range snaps {
		pages, err := pipeline.SpoolPages(snap)
		if errors.Is(err, fs.ErrNotExist) {
			continue // completed, or not begun
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pages {
			if p.Pass != 0 {
				t.Fatalf("page %d of pass %d: the simulator did not change, no pass should be repeated", p.Page, p.Pass)
			}
			if p.Page == 0 {
				check = true
			} else {
				held[p.Page] = true
			}
		}
	}
	if !check {
		delete(held, 1)
	}
	return held
}

// listRequests counts list requests per page in log records.
func listRequests(t *testing.T, log []udesktest.RequestRecord) map[int]int {
	t.Helper()
	n := map[int]int{}
	for _, r := range log {
		if r.Endpoint != udesktest.EndpointList {
			continue
		}
		q, err := url.ParseQuery(r.Query)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := strconv.Atoi(q.Get("page"))
		n[p]++
	}
	return n
}

// killWhen kills cmd with SIGKILL pause after ready first reports true
// (polled every millisecond), unless stop is closed first.
func killWhen(cmd *exec.Cmd, stop <-chan struct{}, ready func() bool, pause time.Duration) {
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			if ready() {
				time.Sleep(pause)
				cmd.Process.Signal(syscall.SIGKILL)
				return
			}
		}
	}()
}

// TestExportSurvivesSIGKILL kills the real binary at seeded random moments
// (fetching, rendering, committing), reruns it, and checks that the outputs
// equal an uninterrupted run's, that no output path ever held a partial
// file, and that no page held in the state folder was fetched again.
func TestExportSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := binary(t)
	const tickets, totalPages = 2500, 25
	sim := newSim(t, udesktest.Options{Tickets: tickets, Seed: 11, Latency: 25 * time.Millisecond})

	refDir := t.TempDir()
	refOuts := []string{filepath.Join(refDir, "t.parquet"), filepath.Join(refDir, "t.csv")}
	start := time.Now()
	if code, _, stderr := runCLI(t, simEnv(sim), "export", "--quiet", "-o", refOuts[0], "-o", refOuts[1]); code != exitOK {
		t.Fatalf("reference run: exit %d\n%s", code, stderr)
	}
	refTook := time.Since(start)
	refParquet := exporttest.ReadParquet(t, refOuts[0])
	refCSV, _ := os.ReadFile(refOuts[1])

	seed := time.Now().UnixNano()
	t.Logf("kill seed %d (reference run took %v)", seed, refTook)
	rng := rand.New(rand.NewPCG(uint64(seed), 1))

	dir := t.TempDir()
	outs := []string{filepath.Join(dir, "t.parquet"), filepath.Join(dir, "t.csv")}
	args := []string{"export", "--quiet", "--concurrency", "4", "-o", outs[0], "-o", outs[1]}
	env := append(os.Environ(), "UDESK_URL="+sim.URL(), "UDESK_SECRET="+sim.Secret(), "UDESK_RATE=unlimited")
	checkOutputs := func(when string) {
		t.Helper()
		for _, o := range outs {
			if _, err := os.Stat(o); err == nil {
				// Only a complete file may stand at an output path.
				if strings.HasSuffix(o, ".csv") {
					got, _ := os.ReadFile(o)
					if !bytes.Equal(got, refCSV) {
						t.Fatalf("%s: %s differs from the uninterrupted run's (%d bytes, want %d)", when, o, len(got), len(refCSV))
					}
				} else if got := exporttest.ReadParquet(t, o); !reflect.DeepEqual(got, refParquet) {
					t.Fatalf("%s: %s differs from the uninterrupted run's", when, o)
				}
			}
		}
	}
	kills := 0
	for run := 1; ; run++ {
		if run > 30 {
			t.Fatal("the export never finished")
		}
		held := heldPages(t, dir)
		logFrom := len(sim.Log())
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill points: the first kills after a random number of the pages
		// still missing were requested (while fetching: counted at the
		// simulator, so the point does not depend on the machine's speed),
		// the next ones a random moment after an output's temp file appeared
		// (rendering or committing). After 5 kills the run is let finish.
		var point string
		stop := make(chan struct{})
		killWhen := func(ready func() bool, pause time.Duration) { killWhen(cmd, stop, ready, pause) }
		missing := totalPages - len(held)
		switch {
		case kills < 3 && missing > 2:
			target := 1 + rng.IntN(missing/2)
			base := sim.Requests()[udesktest.EndpointList]
			point = fmt.Sprintf("after %d more page requests", target)
			killWhen(func() bool { return sim.Requests()[udesktest.EndpointList]-base >= target }, 0)
		case kills < 5:
			pause := time.Duration(rng.Int64N(int64(60 * time.Millisecond)))
			point = fmt.Sprintf("%v after an output's temp file appeared", pause)
			killWhen(func() bool {
				tmp, _ := filepath.Glob(filepath.Join(dir, ".t.*.tmp-*"))
				return len(tmp) > 0
			}, pause)
		}
		err := cmd.Wait()
		close(stop)
		// No held page was asked for again.
		for page, n := range listRequests(t, sim.Log()[logFrom:]) {
			if held[page] {
				t.Errorf("run %d: page %d was held but fetched again (%d times)", run, page, n)
			}
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				kills++
				t.Logf("run %d killed %s (%d pages held before it)", run, point, len(held))
				checkOutputs("after a kill")
				continue
			}
			t.Fatalf("run %d: %v\n%s", run, err, stderr.String())
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("run %d finished: %s", run, strings.TrimSpace(stderr.String()))
		break
	}
	if kills < 4 {
		t.Fatalf("only %d kills landed before the export finished (seed above)", kills)
	}
	for _, o := range outs {
		if _, err := os.Stat(o); err != nil {
			t.Fatalf("after the final run: %v", err)
		}
	}
	checkOutputs("after the final run")
	if stale, _ := filepath.Glob(filepath.Join(dir, ".t.*.tmp-*")); len(stale) > 0 {
		t.Errorf("temp files left beside the outputs: %v", stale)
	}
	// Every page was fetched at least once; none of pages 2.. more often
	// than the runs that could have had it in flight.
	all := listRequests(t, sim.Log())
	for p := 1; p <= 25; p++ {
		if all[p] == 0 {
			t.Errorf("page %d never fetched", p)
		}
	}
}

// TestExportChurn runs an export while the simulator creates and deletes
// tickets under it: no ticket is written twice, every ticket that existed
// for the whole run is written, and the summary says the listing changed.
func TestExportChurn(t *testing.T) {
	if testing.Short() {
		t.Skip("exports under churn at several rates")
	}
	for _, tc := range []struct {
		name  string
		churn udesktest.Churn
	}{
		{"total changes", udesktest.Churn{Every: 2, Create: 1, Delete: 2}},
		{"total stays", udesktest.Churn{Every: 1, Create: 1, Delete: 1}}, // only the pages shift
	} {
		t.Run(tc.name, func(t *testing.T) { testExportChurn(t, tc.churn) })
	}
}

func testExportChurn(t *testing.T, churn udesktest.Churn) {
	sim := newSim(t, udesktest.Options{Tickets: 1500, Seed: 21, Latency: 2 * time.Millisecond, Churn: churn})
	before := map[int64]bool{}
	for _, tk := range sim.Tickets() {
		before[tk.ID] = true
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "churn.jsonl")
	report := filepath.Join(dir, "report.json")
	code, _, stderr := runCLI(t, simEnv(sim), "export", "--quiet", "-o", out, "--report", report)
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	after := map[int64]bool{}
	for _, tk := range sim.Tickets() {
		after[tk.ID] = true
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		idText := strings.TrimPrefix(strings.SplitN(line, ",", 2)[0], `{"id":`)
		id, err := strconv.ParseInt(idText, 10, 64)
		if err != nil {
			t.Fatalf("line %.60q: %v", line, err)
		}
		if got[id] {
			t.Errorf("ticket %d written twice", id)
		}
		got[id] = true
	}
	missing := 0
	for id := range before {
		if after[id] && !got[id] {
			missing++
			t.Errorf("ticket %d existed throughout but was not exported", id)
		}
	}
	deleted := 0
	for id := range before {
		if !after[id] {
			deleted++
		}
	}
	if deleted == 0 {
		t.Fatal("the simulator deleted nothing: the test proves nothing")
	}
	if !strings.Contains(stderr, "the listing changed while it was read") {
		t.Errorf("the summary does not say the listing changed:\n%s", stderr)
	}
	t.Logf("%d tickets exported, %d deleted during the run, %d missing\n%s", len(got), deleted, missing, stderr)
}

// interruptExport runs an export in-process and cancels it (as Ctrl-C does)
// once a few pages are held: exit 130 and no output yet.
func interruptExport(t *testing.T, sim *udesktest.Server, dir, out string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for len(heldPages(t, dir)) < 6 {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	var stderr bytes.Buffer
	env := simEnv(sim)
	a := &app{stdout: &bytes.Buffer{}, stderr: &stderr, getenv: func(k string) string { return env[k] }}
	if code := run(ctx, a, []string{"export", "--quiet", "-o", out}); code != exitInterrupted {
		t.Fatalf("exit %d, want %d\n%s", code, exitInterrupted, stderr.String())
	}
	if !strings.Contains(stderr.String(), "run the same command again to resume") {
		t.Errorf("stderr does not say how to resume:\n%s", stderr.String())
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("an interrupted run left %s: %v", out, err)
	}
}

// TestExportInterruptResumes: the rerun of an interrupted export finishes
// from the held pages.
func TestExportInterruptResumes(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 2000, Seed: 4, Latency: 20 * time.Millisecond})
	dir := t.TempDir()
	out := filepath.Join(dir, "t.csv")
	interruptExport(t, sim, dir, out)
	held := heldPages(t, dir)
	logFrom := len(sim.Log())
	code, _, errText := runCLI(t, simEnv(sim), "export", "-o", out) // not --quiet: it names the state
	if code != exitOK || !strings.Contains(errText, "resuming") {
		t.Fatalf("rerun: exit %d\n%s", code, errText)
	}
	for page := range listRequests(t, sim.Log()[logFrom:]) {
		if held[page] {
			t.Errorf("page %d was held but fetched again", page)
		}
	}
	schema, want := exporttest.Expected(t, sim, mapping.ExportOptions{}, exporttest.Listed(sim.Tickets()))
	exporttest.Same(t, "csv", exporttest.ReadCSV(t, out, schema), want, true)
}
