package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/jobs/dataset/datasettest"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// TestSyncIcebergSurvivesSIGKILL kills the real binary at seeded random
// moments of 5 syncs, into a folder and into a bucket: while it fetches,
// once it writes data files, once changes is committed (before tickets),
// once a metadata file is created (before version-hint.text names it), and
// at random times. After every kill each table reads at a committed
// snapshot whose files are all there; every run is committed once in each
// table, tickets' runs only grow, and each sync's first run, however often
// killed, has the exact counts of the changes made before it.
func TestSyncIcebergSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the binary")
	}
	t.Run("folder", func(t *testing.T) {
		ds := filepath.Join(t.TempDir(), "ds")
		iceKillMatrix(t, ds, ds, nil)
	})
	t.Run("s3", func(t *testing.T) {
		bucket, files := datasettest.StartS3(t)
		buckets := map[string]string{strings.TrimPrefix(bucket, "s3://"): files}
		iceKillMatrix(t, bucket+"/lake/udesk", filepath.Join(files, "lake", "udesk"), buckets)
	})
}

// iceKill picks when an attempt is killed: ready is polled every
// millisecond from the start; point names it for the log.
type iceKill struct {
	kind  string
	point string
	ready func() bool
	pause time.Duration
}

// iceKillMatrix runs 5 syncs into target, whose files are in local.
func iceKillMatrix(t *testing.T, target, local string, buckets map[string]string) {
	tickets := relSize(300, 5000)
	pages := (tickets + 99) / 100
	sim := newSim(t, udesktest.Options{Tickets: tickets, Seed: 31, Latency: 15 * time.Millisecond})
	bin := binary(t)
	seed := time.Now().UnixNano()
	t.Logf("kill seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 21))
	env := append(os.Environ(), "UDESK_URL="+sim.URL(), "UDESK_SECRET="+sim.Secret(), "UDESK_RATE=unlimited")
	work := t.TempDir()

	kinds := []string{"fetch", "data", "between", "hint", "random"}
	landed := map[string]int{} // kills by kind
	kills := 0
	var seen []string // tickets' runs so far, oldest first
	for sync := range 5 {
		var mut udesktest.Mutated
		want := map[string]int{"inserted": tickets}
		if sync > 0 {
			mut = sim.Mutate(udesktest.Mutation{Seed: int64(sync), Update: 10, Delete: 2, Create: 3})
			want = map[string]int{"inserted": 3, "updated": 10, "deleted": 2, "unchanged": len(sim.Tickets()) - 3 - 10}
		}
		// Two kills per sync, of two kinds, rotating so each kind lands
		// on a folder and on a bucket.
		plan := []string{kinds[(2*sync)%len(kinds)], kinds[(2*sync+1)%len(kinds)]}
		for attempt := 0; ; attempt++ {
			if attempt > 8 {
				t.Fatalf("sync %d never finished", sync+1)
			}
			var k *iceKill
			if attempt < len(plan) {
				k = iceKillAt(plan[attempt], rng, sim, local, pages)
			}
			killed, stderr := iceAttempt(t, bin, env, work, k, "sync", "--quiet", "--dataset", target)
			seen = iceConsistent(t, local, buckets, seen)
			if killed {
				kills++
				landed[k.kind]++
				t.Logf("sync %d attempt %d: killed at %s; tickets' runs %d%s", sync+1, attempt+1, k.point, len(seen), iceLagging(local))
				continue
			}
			if stderr != "" && k != nil {
				t.Logf("sync %d attempt %d: the kill at %s did not land", sync+1, attempt+1, k.point)
			}
			break
		}
		tbl := readIceTable(t, filepath.Join(local, iceTickets), buckets)
		iceCheckSync(t, local, buckets, tbl, sync, want, mut, len(sim.Tickets()))
		ids := map[int64]bool{}
		for _, tk := range sim.Tickets() {
			ids[tk.ID] = true
		}
		rows := tbl.Rows(t, tbl.CurrentSnapshot())
		if len(rows) != len(ids) {
			t.Fatalf("sync %d: tickets holds %d rows, the tenant %d", sync+1, len(rows), len(ids))
		}
		for _, r := range rows {
			if !ids[rowID(t, r)] {
				t.Fatalf("sync %d: ticket %s is not the tenant's", sync+1, r["id"])
			}
		}
	}
	t.Logf("kills landed: %v", landed)
	if n := kills; n < 5 {
		t.Fatalf("only %d kills landed (seed above)", n)
	}
}

// iceCheckSync checks the runs a sync published: the first has the counts
// want and, in changes, exactly mut's ids; any later one (a run published
// just before a kill is followed by another) changed nothing.
func iceCheckSync(t *testing.T, local string, buckets map[string]string, tbl *iceTable, sync int, want map[string]int, mut udesktest.Mutated, total int) {
	t.Helper()
	runs := tbl.Runs()
	var lineage []*iceSnapshot
	for s := tbl.CurrentSnapshot(); s != nil; s = tbl.snapshot(s.Parent) {
		lineage = append([]*iceSnapshot{s}, lineage...)
	}
	// This sync's first run is the last snapshot with the wanted counts.
	first := -1
	for i, s := range lineage {
		if iceCounts(s) == iceCountsOf(want) {
			first = i
		}
	}
	if first < 0 {
		var meta []string
		for _, f := range iceFiles(local, []string{iceTickets}, "metadata") {
			if strings.HasSuffix(f, ".metadata.json") {
				meta = append(meta, filepath.Base(f))
			}
		}
		t.Fatalf("sync %d: no tickets snapshot with counts %v; runs %v (version-hint.text names v%d; metadata files %v), last summary %v",
			sync+1, want, runs, iceHint(local, iceTickets), meta, lineage[len(lineage)-1].Summary)
	}
	for _, s := range lineage[first+1:] {
		if c := iceCounts(s); c != iceCountsOf(map[string]int{"unchanged": total}) {
			t.Fatalf("sync %d: run %s after the one with the changes has counts %s", sync+1, s.Run(), c)
		}
	}
	run := lineage[first].Run()
	if sync == 0 {
		return
	}
	changes := readIceTable(t, filepath.Join(local, iceChanges), buckets)
	ops := map[string][]int64{}
	for _, r := range changes.Rows(t, changes.CurrentSnapshot()) {
		if r["_run"] == run {
			ops[r["op"]] = append(ops[r["op"]], rowID(t, r))
		}
	}
	for op, ids := range map[string][]int64{"insert": mut.Created, "update": mut.Updated, "delete": mut.Deleted} {
		if got := sortedIDs(ops[op]); !slices.Equal(got, sortedIDs(ids)) {
			t.Fatalf("sync %d run %s: %s ids %v, want %v", sync+1, run, op, got, sortedIDs(ids))
		}
	}
}

// iceCounts is a tickets snapshot's counts as one comparable string.
func iceCounts(s *iceSnapshot) string {
	var b strings.Builder
	for _, k := range []string{"inserted", "updated", "deleted", "unchanged", "recovered"} {
		fmt.Fprintf(&b, "%s=%s ", k, s.Summary["udesk."+k])
	}
	return b.String()
}

func iceCountsOf(m map[string]int) string {
	var b strings.Builder
	for _, k := range []string{"inserted", "updated", "deleted", "unchanged", "recovered"} {
		fmt.Fprintf(&b, "%s=%d ", k, m[k])
	}
	return b.String()
}

// iceConsistent checks the dataset after an attempt: each existing table
// reads at its current snapshot (every file there, rows as the manifests
// say), no table holds a run twice, every run in tickets is in changes,
// and tickets' runs extend seen. It returns tickets' runs.
func iceConsistent(t *testing.T, local string, buckets map[string]string, seen []string) []string {
	t.Helper()
	runsOf := map[string][]string{}
	for _, name := range []string{iceTickets, iceChanges, iceHistory} {
		if _, err := os.Stat(filepath.Join(local, name, "metadata", "version-hint.text")); err != nil {
			continue
		}
		tbl := readIceTable(t, filepath.Join(local, name), buckets)
		tbl.Rows(t, tbl.CurrentSnapshot())
		runs := tbl.Runs()
		for i, r := range runs {
			if r == "" {
				t.Fatalf("%s: a snapshot without udesk.run", name)
			}
			if slices.Contains(runs[:i], r) {
				t.Fatalf("%s: run %s committed twice: %v", name, r, runs)
			}
		}
		runsOf[name] = runs
	}
	for _, r := range runsOf[iceTickets] {
		if !slices.Contains(runsOf[iceChanges], r) {
			t.Fatalf("run %s is published in tickets but not in changes %v", r, runsOf[iceChanges])
		}
	}
	if got := runsOf[iceTickets]; len(got) < len(seen) || !slices.Equal(got[:len(seen)], seen) {
		t.Fatalf("tickets' runs were %v, now %v: a snapshot was lost", seen, got)
	}
	return runsOf[iceTickets]
}

// iceKillAt makes the kill of kind for an attempt about to start.
func iceKillAt(kind string, rng *rand.Rand, sim *udesktest.Server, local string, pages int) *iceKill {
	k := iceKillOf(kind, rng, sim, local, pages)
	k.kind = kind
	return k
}

func iceKillOf(kind string, rng *rand.Rand, sim *udesktest.Server, local string, pages int) *iceKill {
	tables := []string{iceTickets, iceChanges, iceHistory}
	switch kind {
	case "fetch":
		base, after := sim.Requests()[udesktest.EndpointList], 1+rng.IntN(pages)
		return &iceKill{point: fmt.Sprintf("fetch (page %d of %d)", after, pages),
			ready: func() bool { return sim.Requests()[udesktest.EndpointList]-base >= after }}
	case "data":
		before := iceFiles(local, tables, "data")
		return &iceKill{point: "the first new data file", ready: func() bool { return len(iceFiles(local, tables, "data")) > len(before) }}
	case "between":
		hint := iceHint(local, iceChanges)
		return &iceKill{point: "changes committed", ready: func() bool { return iceHint(local, iceChanges) > hint }}
	case "hint":
		next := fmt.Sprintf("v%d.metadata.json", iceHint(local, iceTickets)+1)
		return &iceKill{point: "tickets' new metadata file", ready: func() bool {
			_, err := os.Stat(filepath.Join(local, iceTickets, "metadata", next))
			return err == nil
		}}
	default:
		d := time.Duration(rng.Int64N(int64(1500 * time.Millisecond)))
		return &iceKill{point: "random " + d.Round(time.Millisecond).String(), ready: func() bool { return true }, pause: d}
	}
}

// iceLagging says which tables have a metadata file newer than the one
// their version-hint.text names: a kill that landed between the two.
func iceLagging(local string) string {
	var lag []string
	for _, tb := range []string{iceTickets, iceChanges, iceHistory} {
		n := iceHint(local, tb)
		if _, err := os.Stat(filepath.Join(local, tb, "metadata", fmt.Sprintf("v%d.metadata.json", n+1))); err == nil {
			lag = append(lag, tb)
		}
	}
	if lag == nil {
		return ""
	}
	return "; killed between the metadata file and version-hint.text of " + strings.Join(lag, ", ")
}

// iceHint is the version a table's version-hint.text names, 0 without one.
func iceHint(local, table string) int {
	b, err := os.ReadFile(filepath.Join(local, table, "metadata", "version-hint.text"))
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// iceFiles lists the files of the tables' folder sub (data or metadata).
func iceFiles(local string, tables []string, sub string) []string {
	var files []string
	for _, tb := range tables {
		f, _ := filepath.Glob(filepath.Join(local, tb, sub, "*"))
		files = append(files, f...)
	}
	return files
}

// iceAttempt runs the binary once in dir; with k, it is SIGKILLed there.
// It reports whether the kill landed, and fails the test on another exit
// than 0.
func iceAttempt(t *testing.T, bin string, env []string, dir string, k *iceKill, args ...string) (killed bool, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env, cmd.Dir = env, dir
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	if k != nil {
		killWhen(cmd, stop, k.ready, k.pause)
	}
	err := cmd.Wait()
	close(stop)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return true, errb.String()
		}
	}
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, errb.String())
	}
	return false, errb.String()
}
