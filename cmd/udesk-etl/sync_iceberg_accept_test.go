package main

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/jobs/dataset/datasettest"
	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// The dataset's three tables, as the command-line contract names them.
const (
	iceTickets = "tickets"
	iceChanges = "changes"
	iceHistory = "field_history"
)

// TestSyncIcebergTablesAgreeWithTheTenantAndIcebird is issue "the sync
// dataset as Iceberg tables" as a user sees it: a first sync of 5,000
// tickets; then 30 updated, 6 created, 4 deleted and a field relabelled; a
// second sync. The tickets table equals the tenant (the simulator's tickets,
// and a fresh export of them), changes holds exactly the run's edits, time
// travel to the first run gives the first state, and icebird (JavaScript,
// no code shared with iceberg-go) reads the same rows as the Go reader.
func TestSyncIcebergTablesAgreeWithTheTenantAndIcebird(t *testing.T) {
	if testing.Short() {
		t.Skip("5,000 tickets, two syncs and node")
	}
	sim := newSim(t, udesktest.Options{Tickets: 5000, Seed: 21})
	env := simEnv(sim)
	dir := t.TempDir()
	ds := filepath.Join(dir, "ds")

	if code, _, stderr := runCLI(t, env, "sync", "--quiet", "--dataset", ds); code != exitOK {
		t.Fatalf("first sync: exit %d\n%s", code, stderr)
	}
	first := exportRows(t, env, filepath.Join(dir, "first.parquet"))
	run1 := checkRun(t, ds, nil, map[string]int{"inserted": 5000})

	var updated, deleted, created []int64
	for i := range 30 {
		id := int64(7 + 160*i)
		if !sim.UpdateTicket(id, func(tk *udesktest.Ticket) { tk.Subject = fmt.Sprintf("edited %d: %s", i, tk.Subject) }) {
			t.Fatalf("no ticket %d", id)
		}
		updated = append(updated, id)
	}
	for i := range 4 {
		id := int64(4001 + 11*i)
		if !sim.DeleteTicket(id) {
			t.Fatalf("no ticket %d", id)
		}
		deleted = append(deleted, id)
	}
	for i := range 6 {
		created = append(created, sim.CreateTicket(udesktest.Ticket{Subject: fmt.Sprintf("created %d", i)}))
	}
	if !sim.RelabelField("TextField_1", "备注（新）") {
		t.Fatal("relabel")
	}

	if code, _, stderr := runCLI(t, env, "sync", "--quiet", "--dataset", ds); code != exitOK {
		t.Fatalf("second sync: exit %d\n%s", code, stderr)
	}
	run2 := checkRun(t, ds, nil, map[string]int{"inserted": 6, "updated": 30, "deleted": 4, "unchanged": 5000 - 34})
	if run2 <= run1 {
		t.Fatalf("run ids %s then %s", run1, run2)
	}

	// tickets now: the tenant's ids and values; the relabelled field keeps
	// its column.
	tickets := readIceTable(t, filepath.Join(ds, iceTickets), nil)
	if slices.Contains(tickets.Columns, "备注（新）") || !slices.Contains(tickets.Columns, "单行文本字段") {
		t.Fatalf("the relabelled field's column: %q", tickets.Columns)
	}
	now := byID(t, tickets.Rows(t, tickets.CurrentSnapshot()))
	live := map[int64]udesktest.Ticket{}
	for _, tk := range sim.Tickets() {
		live[tk.ID] = tk
	}
	if len(now) != len(live) {
		t.Fatalf("tickets holds %d rows, the tenant %d tickets", len(now), len(live))
	}
	for id, tk := range live {
		// (The project's Parquet reader gives text in its CSV form.)
		if now[id] == nil || now[id]["subject"] != mapping.EscapeFormula(tk.Subject) {
			t.Fatalf("ticket %d: table row %v, tenant subject %q", id, now[id], tk.Subject)
		}
	}
	second := exportRows(t, env, filepath.Join(dir, "second.parquet"))
	for _, r := range second {
		r["单行文本字段"] = r["备注（新）"]
		delete(r, "备注（新）")
	}
	sameRows(t, "tickets vs a fresh export", now, second, run2)
	for id, r := range now {
		want := run1
		if slices.Contains(updated, id) || slices.Contains(created, id) {
			want = run2
		}
		if r["_run"] != want {
			t.Fatalf("ticket %d: _run %q, want %s", id, r["_run"], want)
		}
	}

	// Time travel: run 1's snapshot is the first state.
	then := byID(t, tickets.Rows(t, tickets.RunSnapshot(t, run1)))
	sameRows(t, "tickets at run 1 vs the first export", then, first, run1)

	// changes: exactly the run's edits.
	changes := readIceTable(t, filepath.Join(ds, iceChanges), nil)
	chg := changes.Rows(t, changes.CurrentSnapshot())
	ops := map[string][]int64{}
	for _, r := range chg {
		switch r["_run"] {
		case run1:
			if r["op"] != "insert" {
				t.Fatalf("run 1 change %v", r)
			}
			ops["first"] = append(ops["first"], rowID(t, r))
		case run2:
			ops[r["op"]] = append(ops[r["op"]], rowID(t, r))
		default:
			t.Fatalf("a change of no run: %v", r)
		}
	}
	if len(ops["first"]) != 5000 {
		t.Fatalf("run 1: %d inserts, want 5000", len(ops["first"]))
	}
	for op, want := range map[string][]int64{"insert": created, "update": updated, "delete": deleted} {
		if got := sortedIDs(ops[op]); !slices.Equal(got, sortedIDs(want)) {
			t.Fatalf("run 2 %s ids %v, want %v", op, got, sortedIDs(want))
		}
	}
	if n := len(chg) - 5000; n != 40 {
		t.Fatalf("run 2: %d changes, want 40", n)
	}
	history := readIceTable(t, filepath.Join(ds, iceHistory), nil)
	hist := history.Rows(t, history.CurrentSnapshot())
	for _, h := range hist {
		if h["_run"] == run2 && h["column"] == "subject" && !slices.Contains(updated, rowID(t, h)) {
			t.Fatalf("history of a ticket not updated: %v", h)
		}
	}

	// icebird reads the same rows, now and at run 1.
	bird := icebirdRead(t, nil, filepath.Join(ds, iceTickets), filepath.Join(ds, iceTickets)+"@"+run1,
		filepath.Join(ds, iceChanges), filepath.Join(ds, iceHistory))
	agree(t, "tickets", bird[filepath.Join(ds, iceTickets)], tickets, mapValues(now))
	agree(t, "tickets@run1", bird[filepath.Join(ds, iceTickets)+"@"+run1], tickets, mapValues(then))
	agree(t, "changes", bird[filepath.Join(ds, iceChanges)], changes, chg)
	agree(t, "field_history", bird[filepath.Join(ds, iceHistory)], history, hist)
	for _, s := range bird[filepath.Join(ds, iceTickets)].Snapshots {
		if r := s.Summary["udesk.run"]; r != run1 && r != run2 {
			t.Fatalf("icebird: a tickets snapshot of run %q", r)
		}
	}

	code, stdout, stderr := runCLI(t, nil, "sync", "--dataset", ds, "--status")
	if code != exitOK || !strings.Contains(stdout, run1) || !strings.Contains(stdout, run2) {
		t.Fatalf("--status: exit %d\n%s%s", code, stdout, stderr)
	}
}

// checkRun checks the dataset's latest run: the three tables' current
// snapshots carry one run id, tickets' summary the counts (keys of
// udesk.*; those not given must be 0), and returns the run id.
func checkRun(t *testing.T, ds string, buckets map[string]string, counts map[string]int) string {
	t.Helper()
	tickets := readIceTable(t, filepath.Join(ds, iceTickets), buckets)
	s := tickets.CurrentSnapshot()
	if s == nil {
		t.Fatal("tickets has no snapshot")
	}
	run := s.Run()
	if _, err := time.Parse("20060102T150405Z", run); err != nil {
		t.Fatalf("tickets' snapshot has udesk.run %q: %v", run, err)
	}
	for _, k := range []string{"inserted", "updated", "deleted", "unchanged", "recovered"} {
		if got := s.Summary["udesk."+k]; got != strconv.Itoa(counts[k]) {
			t.Fatalf("run %s: udesk.%s %q, want %d (summary %v)", run, k, got, counts[k], s.Summary)
		}
	}
	changes := readIceTable(t, filepath.Join(ds, iceChanges), buckets)
	if changes.RunSnapshot(t, run) == nil {
		t.Fatalf("run %s is published in tickets but not in changes (runs %v)", run, changes.Runs())
	}
	return run
}

// exportRows exports the tenant with the tool to file and reads it back.
func exportRows(t *testing.T, env map[string]string, file string) map[int64]map[string]string {
	t.Helper()
	if code, _, stderr := runCLI(t, env, "export", "--quiet", "-o", file); code != exitOK {
		t.Fatalf("export: exit %d\n%s", code, stderr)
	}
	_, rows := datasettest.ReadTable(t, file)
	return byID(t, rows)
}

func rowID(t *testing.T, r map[string]string) int64 {
	t.Helper()
	id, err := strconv.ParseInt(r["id"], 10, 64)
	if err != nil {
		t.Fatalf("row without an id: %v", r)
	}
	return id
}

func byID(t *testing.T, rows []map[string]string) map[int64]map[string]string {
	t.Helper()
	m := make(map[int64]map[string]string, len(rows))
	for _, r := range rows {
		id := rowID(t, r)
		if m[id] != nil {
			t.Fatalf("ticket %d twice", id)
		}
		m[id] = r
	}
	return m
}

func mapValues(m map[int64]map[string]string) []map[string]string {
	return slices.Collect(maps.Values(m))
}

func sortedIDs(ids []int64) []int64 {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return ids
}

// sameRows checks that table rows equal want's (a fresh export) column for
// column, the table's own _run column aside, which must be set, and the
// export's _raw_values (values that fit no column; the project's Parquet
// reader folds them into their columns).
func sameRows(t *testing.T, what string, got, want map[int64]map[string]string, run string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, want %d", what, len(got), len(want))
	}
	for id, w := range want {
		g := got[id]
		if g == nil {
			t.Fatalf("%s: no ticket %d", what, id)
		}
		if g["_run"] == "" || g["_run"] > run {
			t.Fatalf("%s: ticket %d has _run %q", what, id, g["_run"])
		}
		cols := slices.Sorted(maps.Keys(w))
		if gc := slices.DeleteFunc(slices.Sorted(maps.Keys(g)), func(c string) bool { return c == "_run" || c == mapping.RawValuesColumn }); !slices.Equal(gc, cols) {
			t.Fatalf("%s: columns %q, the export's %q", what, gc, cols)
		}
		for _, c := range cols {
			if g[c] != w[c] {
				t.Fatalf("%s: ticket %d %s = %q, want %q", what, id, c, g[c], w[c])
			}
		}
	}
}

// agree checks that icebird's rows equal the Go reader's of table, as a
// multiset.
func agree(t *testing.T, what string, bird birdTable, table *iceTable, rows []map[string]string) {
	t.Helper()
	columns := table.Columns
	if !slices.Equal(bird.Columns, columns) {
		t.Fatalf("%s: icebird's columns %q, the Go reader's %q", what, bird.Columns, columns)
	}
	key := func(cells []string) string { return strings.Join(cells, "\x00") }
	var goKeys, birdKeys []string
	for _, r := range rows {
		cells := make([]string, len(columns))
		for i, c := range columns {
			cells[i] = normCell(r[c], table.Types[c])
		}
		goKeys = append(goKeys, key(cells))
	}
	for _, r := range bird.Rows {
		cells := make([]string, len(columns))
		for i, c := range columns {
			cell := birdCell(r[c])
			if table.Types[c] == "string" { // as the Go reader gives text: in its CSV form
				cell = mapping.EscapeFormula(cell)
			}
			cells[i] = normCell(cell, table.Types[c])
		}
		birdKeys = append(birdKeys, key(cells))
	}
	sort.Strings(goKeys)
	sort.Strings(birdKeys)
	if len(goKeys) != len(birdKeys) {
		t.Fatalf("%s: icebird read %d rows, the Go reader %d", what, len(birdKeys), len(goKeys))
	}
	for i := range goKeys {
		if goKeys[i] != birdKeys[i] {
			t.Fatalf("%s: rows differ:\n go:      %q\n icebird: %q", what, strings.Split(goKeys[i], "\x00"), strings.Split(birdKeys[i], "\x00"))
		}
	}
}

// birdCell writes an icebird JSON value as the Go reader's cells are
// written: lists joined with ",", null as "".
func birdCell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = birdCell(e)
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v)
}

// normCell writes a cell of Iceberg type typ (either reader's form) in one
// form: timestamps in UTC, dates as 2006-01-02, times as 15:04:05 (icebird
// gives microseconds), so that the readers' zones and types do not differ
// where the values do not.
func normCell(s, typ string) string {
	switch {
	case s == "":
	case strings.HasPrefix(typ, "timestamp"):
		if ts, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return ts.UTC().Format(time.RFC3339Nano)
		}
	case typ == "date":
		if ts, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return ts.UTC().Format(time.DateOnly)
		}
	case typ == "time":
		if us, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.UnixMicro(us).UTC().Format(time.TimeOnly)
		}
	}
	return s
}

// TestSyncIcebergIcebirdReadsABucket: a dataset on S3 (its paths
// s3://BUCKET/…) reads the same in icebird as in the Go reader, after a
// second run that rewrote some tickets.
func TestSyncIcebergIcebirdReadsABucket(t *testing.T) {
	if testing.Short() {
		t.Skip("node and the S3 test server")
	}
	bucket, files := datasettest.StartS3(t)
	name := strings.TrimPrefix(bucket, "s3://")
	buckets := map[string]string{name: files}
	sim := newSim(t, udesktest.Options{Tickets: 300, Seed: 81})
	target := bucket + "/lake/udesk"
	local := filepath.Join(files, "lake", "udesk")
	for i := range 2 {
		if i > 0 {
			sim.Mutate(udesktest.Mutation{Seed: 82, Update: 9, Delete: 2, Create: 3})
		}
		if code, _, stderr := runCLI(t, simEnv(sim), "sync", "--quiet", "--dataset", target); code != exitOK {
			t.Fatalf("sync %d: exit %d\n%s", i+1, code, stderr)
		}
	}
	run := checkRun(t, local, buckets, map[string]int{"inserted": 3, "updated": 9, "deleted": 2, "unchanged": 300 - 11})
	var tables []string
	for _, tb := range []string{iceTickets, iceChanges, iceHistory} {
		tables = append(tables, target+"/"+tb)
	}
	bird := icebirdRead(t, buckets, tables...)
	for i, tb := range []string{iceTickets, iceChanges, iceHistory} {
		tbl := readIceTable(t, filepath.Join(local, tb), buckets)
		rows := tbl.Rows(t, tbl.CurrentSnapshot())
		if tb == iceTickets && len(rows) != len(sim.Tickets()) {
			t.Fatalf("run %s: tickets holds %d rows, the tenant %d", run, len(rows), len(sim.Tickets()))
		}
		agree(t, tb+" on S3", bird[tables[i]], tbl, rows)
	}
}
