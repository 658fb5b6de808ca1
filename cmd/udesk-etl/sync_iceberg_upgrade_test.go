package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/jobs/dataset/datasettest"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// hiveCommit is the last commit whose sync writes the earlier, Hive layout
// (tickets/run=RUN/, _runs.jsonl): the tool that made the datasets users
// have. testdata/hive-upgrade holds a dataset it made; -regen-hive builds it
// again (go test -run TestSyncIcebergUpgradesAHiveDataset -regen-hive).
const hiveCommit = "d3460361b7e0522361f9534a5f0244789a4fcf5a"

// Building the earlier tool takes minutes: the test reads the dataset it
// made from testdata, and builds it only when asked to make that again.
var regenHive = flag.Bool("regen-hive", false, "rebuild "+hiveFixture+" with the sync of commit "+hiveCommit[:12])

// hiveFixture: ds, a dataset the tool at hiveCommit made in 3 syncs of the
// simulator of hiveSim, with hiveMutations before the 2nd and 3rd; and
// times.json, the times the simulator gave the tickets those mutations
// touched (its clock is all that the seeds do not fix).
const hiveFixture = "testdata/hive-upgrade"

var (
	hiveSim       = udesktest.Options{Tickets: 400, Seed: 61, Latency: 5 * time.Millisecond}
	hiveMutations = []udesktest.Mutation{
		{Seed: 61, Update: 8, Delete: 2, Create: 4},
		{Seed: 62, Update: 8, Delete: 2, Create: 4},
	}
)

// hiveTimes are a ticket's times as the simulator serves them.
type hiveTimes struct {
	Created string `json:"created_at"`
	Updated string `json:"updated_at"`
	Solving string `json:"solving_at,omitempty"`
}

// hiveDataset puts the Hive-layout dataset at ds and brings sim (made with
// hiveSim) to the state of its last run: the mutations replayed, with the
// times they had when the dataset was made. With -regen-hive it makes the
// dataset with the earlier tool and writes testdata/hive-upgrade anew.
func hiveDataset(t *testing.T, sim *udesktest.Server, env []string, work, ds string) {
	t.Helper()
	var old string
	if *regenHive {
		old = hiveBinary(t)
	}
	var touched []int64
	for i := range len(hiveMutations) + 1 {
		if i > 0 {
			m := sim.Mutate(hiveMutations[i-1])
			touched = append(touched, m.Updated...)
			touched = append(touched, m.Created...)
			if *regenHive {
				time.Sleep(1100 * time.Millisecond) // run ids are seconds
			}
		}
		if !*regenHive {
			continue
		}
		if killed, stderr := iceAttempt(t, old, env, work, nil, "sync", "--quiet", "--dataset", ds); killed {
			t.Fatalf("the earlier tool's sync %d: %s", i+1, stderr)
		}
	}
	timesFile := filepath.Join(hiveFixture, "times.json")
	if *regenHive {
		times := map[int64]hiveTimes{}
		for _, id := range touched {
			if tk, ok := sim.Ticket(id); ok {
				times[id] = hiveTimes{tk.CreatedAt, tk.UpdatedAt, tk.SolvingAt}
			}
		}
		b, err := json.MarshalIndent(times, "", "\t")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(filepath.Join(hiveFixture, "ds")); err != nil {
			t.Fatal(err)
		}
		if err := os.CopyFS(filepath.Join(hiveFixture, "ds"), os.DirFS(ds)); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(timesFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(timesFile)
	if err != nil {
		t.Fatal(err)
	}
	var times map[int64]hiveTimes
	if err := json.Unmarshal(b, &times); err != nil {
		t.Fatalf("%s: %v", timesFile, err)
	}
	for _, id := range touched {
		tm, ok := times[id]
		live := sim.UpdateTicket(id, func(tk *udesktest.Ticket) {
			tk.CreatedAt, tk.UpdatedAt, tk.SolvingAt = tm.Created, tm.Updated, tm.Solving
		})
		if live && !ok {
			t.Fatalf("%s has no times for ticket %d: the simulator changed since it was made; run the test with -regen-hive", timesFile, id)
		}
	}
	if err := os.CopyFS(ds, os.DirFS(filepath.Join(hiveFixture, "ds"))); err != nil {
		t.Fatal(err)
	}
}

// hiveBinary builds the tool at hiveCommit into a temp folder, from the
// repository's history (-regen-hive only).
func hiveBinary(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is not installed: the earlier tool is built from the repository's history")
	}
	if err := exec.Command("git", "cat-file", "-e", hiveCommit+"^{commit}").Run(); err != nil {
		t.Fatalf("commit %s (the Hive-layout sync) is not in this checkout's history", hiveCommit[:12])
	}
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Fatalf("git rev-parse: %v", err)
	}
	src := t.TempDir()
	archive := exec.Command("git", "archive", "--format=tar", hiveCommit)
	archive.Dir = strings.TrimSpace(string(top)) // the whole tree, not this folder's
	untar := exec.Command("tar", "-x", "-C", src)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	untar.Stdin = pipe
	var archiveErr, untarErr bytes.Buffer // one each: the two write at once
	archive.Stderr, untar.Stderr = &archiveErr, &untarErr
	if err := untar.Start(); err != nil {
		t.Fatal(err)
	}
	if err := archive.Run(); err != nil {
		t.Fatalf("git archive: %v\n%s", err, archiveErr.String())
	}
	if err := untar.Wait(); err != nil {
		t.Fatalf("tar: %v\n%s", err, untarErr.String())
	}
	bin := filepath.Join(t.TempDir(), "udesk-etl-hive")
	build := exec.Command("go", "build", "-o", bin, "./cmd/udesk-etl")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the Hive-layout tool: %v\n%s", err, out)
	}
	return bin
}

// hiveRun is one run of a Hive-layout dataset, read from its files.
type hiveRun struct {
	run     string
	tickets map[int64]map[string]string
	changes [][2]string // op, id
	history int         // field_history rows
}

func readHive(t *testing.T, ds string) []hiveRun {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(ds, "_runs.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var runs []hiveRun
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		_, rest, _ := strings.Cut(line, `"run":"`)
		id, _, _ := strings.Cut(rest, `"`)
		part := func(table string) []map[string]string {
			_, rows := datasettest.ReadTable(t, filepath.Join(ds, table, "run="+id, "part-00000.parquet"))
			return rows
		}
		r := hiveRun{run: id, tickets: byID(t, part(iceTickets)), history: len(part(iceHistory))}
		for _, c := range part(iceChanges) {
			r.changes = append(r.changes, [2]string{c["op"], c["id"]})
		}
		runs = append(runs, r)
	}
	return runs
}

// TestSyncIcebergUpgradesAHiveDataset makes a dataset with the earlier tool
// (3 runs, with changes between them), then syncs it with this one, killed
// twice in its first run (once the upgrade has begun writing the Iceberg
// tables, and at a point picked at random): the dataset stays upgradable,
// the finished run says it upgraded, tickets' first snapshot is the last
// Hive run's tickets, changes and field_history hold every Hive run's rows
// under its run, and the run after has the exact counts.
func TestSyncIcebergUpgradesAHiveDataset(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the earlier tool and kills this one")
	}
	sim := newSim(t, hiveSim)
	env := append(os.Environ(), "UDESK_URL="+sim.URL(), "UDESK_SECRET="+sim.Secret(), "UDESK_RATE=unlimited")
	work := t.TempDir()
	ds := filepath.Join(work, "ds")
	hiveDataset(t, sim, env, work, ds)
	bin := binary(t)
	hive := readHive(t, ds)
	if len(hive) != 3 {
		t.Fatalf("the earlier tool made %d runs, want 3", len(hive))
	}
	mut := sim.Mutate(udesktest.Mutation{Seed: 69, Update: 6, Delete: 1, Create: 2})
	time.Sleep(1100 * time.Millisecond)

	seed := time.Now().UnixNano()
	t.Logf("kill seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 61))
	// Each attempt that upgrades says so in one line; one of them must
	// (the one that finishes may find the upgrade done by one killed).
	upgradeLines := 0
	for attempt := 0; ; attempt++ {
		if attempt > 6 {
			t.Fatal("the upgrading sync never finished")
		}
		// The first kill lands once the upgrade has begun writing the
		// Iceberg tables, the second at random.
		var k *iceKill
		switch attempt {
		case 0:
			pause := time.Duration(rng.Int64N(int64(300 * time.Millisecond)))
			k = &iceKill{kind: "upgrade", point: fmt.Sprintf("%v after the first Iceberg metadata file", pause.Round(time.Millisecond)),
				ready: func() bool { return len(iceFiles(ds, []string{iceTickets, iceChanges, iceHistory}, "metadata")) > 0 }, pause: pause}
		case 1:
			// A point of the run picked at random, not a random time: a
			// timed kill may land after the run finished (while it gives
			// its lease up), and the next attempt is then a new run.
			kinds := []string{"data", "between", "hint"}
			k = iceKillAt(kinds[rng.IntN(len(kinds))], rng, sim, ds, 0)
		}
		killed, stderr := iceAttempt(t, bin, env, work, k, "sync", "--dataset", ds)
		iceConsistent(t, ds, nil, nil)
		// (The test's folders are named after it: leave them out.)
		n := strings.Count(strings.ToLower(strings.ReplaceAll(stderr, work, "")), "upgrad")
		if n > 1 {
			t.Fatalf("attempt %d said %d lines about the upgrade, want one:\n%s", attempt+1, n, stderr)
		}
		upgradeLines += n
		if !killed {
			if upgradeLines == 0 {
				t.Fatalf("no attempt said it upgraded the dataset; the last:\n%s", stderr)
			}
			break
		}
		t.Logf("upgrade attempt %d killed at %s", attempt+1, k.point)
	}

	last := hive[len(hive)-1]
	tickets := readIceTable(t, filepath.Join(ds, iceTickets), nil)
	runs := tickets.Runs()
	if len(runs) < 2 || runs[len(runs)-2] != last.run {
		t.Fatalf("tickets' runs %v: want the last Hive run %s, then the new run", runs, last.run)
	}
	upgraded := byID(t, tickets.Rows(t, tickets.RunSnapshot(t, last.run)))
	if len(upgraded) != len(last.tickets) {
		t.Fatalf("the upgraded snapshot has %d tickets, the Hive run %d", len(upgraded), len(last.tickets))
	}
	for id, want := range last.tickets {
		got := upgraded[id]
		for c, v := range want {
			if c != "_run" && got[c] != v {
				t.Fatalf("upgraded ticket %d: %s = %q, the Hive run had %q", id, c, got[c], v)
			}
		}
	}
	run := runs[len(runs)-1]
	checkRun(t, ds, nil, map[string]int{"inserted": 2, "updated": 6, "deleted": 1, "unchanged": len(last.tickets) - 7})

	changes := readIceTable(t, filepath.Join(ds, iceChanges), nil)
	byRun := map[string][]string{}
	for _, r := range changes.Rows(t, changes.CurrentSnapshot()) {
		byRun[r["_run"]] = append(byRun[r["_run"]], r["op"]+" "+r["id"])
	}
	for _, h := range hive {
		var want []string
		for _, c := range h.changes {
			want = append(want, c[0]+" "+c[1])
		}
		sort.Strings(want)
		got := byRun[h.run]
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Fatalf("changes of Hive run %s: %d rows, want %d", h.run, len(got), len(want))
		}
	}
	var want []string
	for op, ids := range map[string][]int64{"insert": mut.Created, "update": mut.Updated, "delete": mut.Deleted} {
		for _, id := range ids {
			want = append(want, fmt.Sprintf("%s %d", op, id))
		}
	}
	sort.Strings(want)
	got := byRun[run]
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Fatalf("changes of the new run %s: %v, want %v", run, got, want)
	}
	history := readIceTable(t, filepath.Join(ds, iceHistory), nil)
	hist := map[string]int{}
	for _, r := range history.Rows(t, history.CurrentSnapshot()) {
		hist[r["_run"]]++
	}
	for _, h := range hive {
		if hist[h.run] != h.history {
			t.Fatalf("field_history of Hive run %s: %d rows, want %d", h.run, hist[h.run], h.history)
		}
	}
}
