package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/internal/exporttest"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// The crash matrix SIGKILLs the real binary at seeded random moments, runs
// it again until it finishes, and compares what it left with a clean run's.
// UDESK_CRASH_SEED=N repeats a seed that a failure printed.

// relCrashSeed is the seed of the kill delays, printed by every test.
func relCrashSeed(t *testing.T) *rand.Rand {
	seed := time.Now().UnixNano()
	if s := os.Getenv("UDESK_CRASH_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("UDESK_CRASH_SEED=%q: %v", s, err)
		}
	}
	t.Logf("kill seed %d (UDESK_CRASH_SEED=%d repeats it)", seed, seed)
	return rand.New(rand.NewPCG(uint64(seed), 8))
}

// relCrashRun runs args until a run finishes, SIGKILLing the first want
// runs after a delay drawn from [5ms, 5ms+maxDelay) (the process start
// included); a run may finish before its kill. afterKill checks what a
// killed run left. It returns the kills and the finishing run.
func relCrashRun(t *testing.T, rng *rand.Rand, env []string, want int, maxDelay time.Duration, afterKill func(), args ...string) (int, relChild) {
	t.Helper()
	bin := binary(t)
	kills := 0
	for run := 0; run < 200; run++ {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), env...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		delay := 5*time.Millisecond + time.Duration(rng.Int64N(int64(maxDelay)))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		timer := time.AfterFunc(delay, func() {
			if kills < want {
				cmd.Process.Signal(syscall.SIGKILL)
			}
		})
		guard := time.AfterFunc(5*time.Minute, func() { cmd.Process.Kill() })
		cmd.Wait()
		timer.Stop()
		guard.Stop()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			if ws.Signal() != syscall.SIGKILL {
				t.Fatalf("run %d ended by %v\n%s", run, ws.Signal(), stderr.String())
			}
			kills++
			afterKill()
			continue
		}
		relNoPanic(t, fmt.Sprintf("run %d", run), stderr.String())
		return kills, relChild{code: cmd.ProcessState.ExitCode(), stderr: stderr.String()}
	}
	t.Fatal("never finished")
	return 0, relChild{}
}

// relTimed runs a clean (unkilled) run and returns how long it took.
func relTimed(t *testing.T, env []string, args ...string) time.Duration {
	t.Helper()
	binary(t) // built before the clock starts
	start := time.Now()
	if r := relRun(t, t.TempDir(), env, 10*time.Minute, 0, args...); r.code != exitOK {
		t.Fatalf("clean run: exit %d\n%s", r.code, r.stderr)
	}
	return time.Since(start)
}

// relEpisodes repeats episode (runs from scratch killed up to want times,
// then finished; it returns its kills) until minKills kills have landed.
func relEpisodes(t *testing.T, minKills int, episode func(want int) int) {
	t.Helper()
	kills := 0
	for n := 0; kills < minKills; n++ {
		if n == 20 {
			t.Fatalf("only %d kills landed in 20 episodes", kills)
		}
		k := episode(minKills - kills)
		t.Logf("episode %d: %d kills", n, k)
		kills += k
	}
}

// TestCrashMatrixExport: an export SIGKILLed at random points and run again
// writes files identical to a clean run's, and no output path ever holds a
// partial file.
func TestCrashMatrixExport(t *testing.T) {
	if testing.Short() {
		t.Skip("the crash matrix kills the binary many times")
	}
	tickets, minKills := relSize(2000, 50000), relSize(10, 20)
	latency := time.Duration(relSize(int(15*time.Millisecond), 0))
	sim := newSim(t, udesktest.Options{Tickets: tickets, Seed: 31, Latency: latency})
	env := relSimEnv(sim)
	names := []string{"t.csv", "t.jsonl", "t.parquet"}
	exportArgs := func(dir string) []string {
		args := []string{"export", "--quiet", "--concurrency", "2"}
		for _, n := range names {
			args = append(args, "-o", filepath.Join(dir, n))
		}
		return args
	}
	ref := t.TempDir()
	clean := relTimed(t, env, exportArgs(ref)...)
	want := map[string][]byte{}
	for _, n := range names {
		want[n], _ = os.ReadFile(filepath.Join(ref, n))
	}
	wantParquet := exporttest.ReadParquet(t, filepath.Join(ref, "t.parquet"))
	same := func(dir, when string) {
		t.Helper()
		for _, n := range names {
			path := filepath.Join(dir, n)
			got, err := os.ReadFile(path)
			if err != nil {
				continue // not written yet: fine
			}
			// Parquet bytes may differ (encoder choices); its rows may not.
			if n == "t.parquet" {
				if !reflect.DeepEqual(exporttest.ReadParquet(t, path), wantParquet) {
					t.Fatalf("%s: %s holds other rows than the clean run's", when, n)
				}
			} else if !bytes.Equal(got, want[n]) {
				t.Fatalf("%s: %s differs from the clean run's (%d bytes, want %d)", when, n, len(got), len(want[n]))
			}
		}
	}
	rng := relCrashSeed(t)
	t.Logf("%d tickets; a clean run takes %v", tickets, clean)
	relEpisodes(t, minKills, func(want int) int {
		dir := t.TempDir()
		kills, r := relCrashRun(t, rng, env, want, clean/2, func() { same(dir, "after a kill") }, exportArgs(dir)...)
		if r.code != exitOK {
			t.Fatalf("the finishing run: exit %d\n%s", r.code, r.stderr)
		}
		for _, n := range names {
			if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
				t.Fatal(err)
			}
		}
		same(dir, "after the finishing run")
		relNoTemps(t, dir)
		return kills
	})
}

// relImportCrash is one import operation of the crash matrix.
type relImportCrash struct {
	op    string
	rows  func(sim *udesktest.Server, n int) [][]string
	check func(t *testing.T, sim, clean *udesktest.Server, recs [][]string, results string)
}

// TestCrashMatrixImport: each import operation SIGKILLed at random points
// and run again: no row lost, none written twice, the server and the
// results as after a clean run.
func TestCrashMatrixImport(t *testing.T) {
	if testing.Short() {
		t.Skip("kills the binary again and again")
	}
	rows, minKills := relSize(200, 50000), relSize(10, 20)
	latency := time.Duration(relSize(int(10*time.Millisecond), 0))
	for _, op := range []relImportCrash{
		{"create", relCrashCreates, relCheckCrashCreates},
		{"update", relCrashUpdates, relCheckCrashUpdates},
		{"reply", relCrashReplies, relCheckCrashReplies},
	} {
		t.Run(op.op, func(t *testing.T) {
			// Twice the tickets: replies go to the tickets with a customer email.
			opts := udesktest.Options{Tickets: 2 * rows, Seed: 17, Latency: latency}
			newRun := func(dir string) (*udesktest.Server, [][]string, []string) {
				sim := newSim(t, opts)
				recs := op.rows(sim, rows)
				in := filepath.Join(dir, op.op+".csv")
				writeCSVTest(t, in, recs)
				return sim, recs, []string{"import", "--" + op.op, "-i", in, "--results", filepath.Join(dir, "results"), "--quiet", "--concurrency", "4"}
			}
			refDir := t.TempDir()
			clean, recs, args := newRun(refDir)
			took := relTimed(t, relSimEnv(clean), args...)
			op.check(t, clean, clean, recs, filepath.Join(refDir, "results"))
			rng := relCrashSeed(t)
			t.Logf("%d rows; a clean run takes %v", rows, took)
			relEpisodes(t, minKills, func(want int) int {
				dir := t.TempDir()
				sim, recs, args := newRun(dir)
				kills, r := relCrashRun(t, rng, relSimEnv(sim), want, took/2, func() {}, args...)
				if r.code != exitOK && !(op.op == "reply" && r.code == exitRejected) {
					t.Errorf("the finishing run: exit %d\n%s", r.code, r.stderr)
				}
				op.check(t, sim, clean, recs, filepath.Join(dir, "results"))
				relNoTemps(t, dir)
				return kills
			})
		})
	}
}

func relCrashCreates(sim *udesktest.Server, n int) [][]string {
	return relCreateRows("crash", n, relEmails(sim, 5))
}

// relCheckCrashCreates: each row's ticket exactly once, success.csv exact,
// and the tickets as a clean run made them.
func relCheckCrashCreates(t *testing.T, sim, clean *udesktest.Server, recs [][]string, results string) {
	t.Helper()
	relCheckCreated(t, sim, recs, results)
	if sim == clean {
		return
	}
	want := ticketsBySubject(clean)
	for _, r := range recs[1:] {
		got := ticketsBySubject(sim)[r[0]]
		if len(got) == 1 && len(want[r[0]]) == 1 {
			g, w := got[0], want[r[0]][0]
			if g.Content != w.Content || g.UserEmail != w.UserEmail || g.Status != w.Status || g.Priority != w.Priority {
				t.Errorf("%s: %+v, a clean run made %+v", r[0], g, w)
			}
		}
	}
}

func relCrashUpdates(sim *udesktest.Server, n int) [][]string {
	statuses := []string{"solving", "resolved", "closed"}
	recs := [][]string{{"id", "subject", "status", "priority"}}
	for i := 1; i <= n; i++ {
		recs = append(recs, []string{strconv.Itoa(i), fmt.Sprintf("updated-%05d", i), statuses[i%3], "high"})
	}
	return recs
}

// relCheckCrashUpdates: every ticket updated as a clean run did it, every
// row in success.csv once.
func relCheckCrashUpdates(t *testing.T, sim, clean *udesktest.Server, recs [][]string, results string) {
	t.Helper()
	for i := 1; i < len(recs); i++ {
		g, _ := sim.Ticket(int64(i))
		w, _ := clean.Ticket(int64(i))
		if g.Subject != recs[i][1] || g.Status != recs[i][2] || g.Subject != w.Subject || g.Status != w.Status || g.Priority != w.Priority {
			t.Errorf("ticket %d: subject %q status %q priority %q; the row says %v, a clean run left %q %q %q",
				i, g.Subject, g.Status, g.Priority, recs[i], w.Subject, w.Status, w.Priority)
		}
	}
	relCheckSuccess(t, results, len(recs)-1, "updated")
}

func relCrashReplies(sim *udesktest.Server, n int) [][]string {
	recs := [][]string{{"id", "reply_content", "email"}}
	for _, tk := range sim.Tickets() {
		if tk.UserEmail != "" && len(recs) <= n {
			recs = append(recs, []string{strconv.FormatInt(tk.ID, 10), fmt.Sprintf("crash reply %05d", len(recs)), tk.UserEmail})
		}
	}
	return recs
}

// relCheckCrashReplies: a reply cannot be looked up, so a reply in flight
// when the run was killed is reported as outcome unknown, never resent:
// every reply is on its ticket at most once; a row in success.csv has it
// exactly once, as after a clean run; every other row is in errors.csv as
// outcome_unknown.
func relCheckCrashReplies(t *testing.T, sim, clean *udesktest.Server, recs [][]string, results string) {
	t.Helper()
	ok := map[string]bool{}
	for _, r := range readCSV(t, filepath.Join(results, "success.csv"))[1:] {
		if ok[r[0]] {
			t.Errorf("success.csv lists row %s twice", r[0])
		}
		ok[r[0]] = true
	}
	unknown := map[string]bool{}
	for _, r := range readCSV(t, filepath.Join(results, "errors.csv"))[1:] {
		if r[3] != "outcome_unknown" {
			t.Errorf("errors.csv: %v, want only outcome_unknown rows", r)
		}
		unknown[r[0]] = true
	}
	for i := 1; i < len(recs); i++ {
		row, id := strconv.Itoa(i+1), recs[i][0]
		tid, _ := strconv.ParseInt(id, 10, 64)
		n := 0
		for _, r := range sim.Replies(tid) {
			if r.Body == recs[i][1] {
				n++
			}
		}
		switch {
		case n > 1:
			t.Errorf("ticket %s has the reply %d times", id, n)
		case ok[row] == unknown[id]:
			t.Errorf("row %s: in success.csv %v, in errors.csv %v", row, ok[row], unknown[id])
		case ok[row] && n != 1:
			t.Errorf("row %s: replied, but ticket %s has the reply %d times", row, id, n)
		}
	}
	if sim == clean && len(unknown) > 0 {
		t.Errorf("a clean run left %d outcomes unknown", len(unknown))
	}
	if len(unknown) > 0 {
		t.Logf("%d replies in flight at a kill are reported as outcome unknown", len(unknown))
	}
}

// relCheckSuccess: success.csv lists rows 2..n+1 once each with action.
func relCheckSuccess(t *testing.T, results string, n int, action string) {
	t.Helper()
	seen := map[string]bool{}
	for _, r := range readCSV(t, filepath.Join(results, "success.csv"))[1:] {
		if seen[r[0]] || r[2] != action {
			t.Errorf("success.csv: %v (listed before: %v)", r, seen[r[0]])
		}
		seen[r[0]] = true
	}
	if len(seen) != n {
		t.Errorf("success.csv lists %d rows, want %d", len(seen), n)
	}
	if errs := readCSV(t, filepath.Join(results, "errors.csv")); len(errs) != 1 {
		t.Errorf("errors.csv lists %d rows: %v", len(errs)-1, errs[1:])
	}
}

// TestCrashBeforeResultsAreWritten: a run killed after its journal says
// complete but before success.csv and errors.csv are on disk (the results
// folder is removed here to stand for that moment) leaves the re-run to
// write them: the results of a finished import are never lost.
func TestCrashBeforeResultsAreWritten(t *testing.T) {
	sim := newSim(t, udesktest.Options{})
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	recs := relCreateRows("late", 5, []string{"late@example.com"})
	writeCSVTest(t, in, recs)
	results := filepath.Join(dir, "results")
	args := []string{"import", "--create", "-i", in, "--results", results, "--quiet"}
	if code, _, stderr := runCLI(t, simEnv(sim), args...); code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if err := os.RemoveAll(results); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, simEnv(sim), args...)
	if code != exitOK {
		t.Fatalf("re-run: exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(results, "success.csv")); err != nil {
		t.Fatalf("the re-run of a finished import did not write its results: %v\n%s", err, stderr)
	}
	relCheckCreated(t, sim, recs, results)
}
