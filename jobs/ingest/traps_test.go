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
	"github.com/udesk-etl/udesk-etl/udesk"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// A state folder that is a symbolic link is refused, also with --fresh: the
// folder it points to keeps its files and its mode.
func TestRunRefusesSymlinkedStateFolder(t *testing.T) {
	sim := newSim(t, udesktest.Options{})
	in := filepath.Join(t.TempDir(), "t.csv")
	ingesttest.WriteCSV(t, in, [][]string{{"subject", "content", "email"}, {"one", "c", "a@example.com"}})
	rep := mustImport(t, sim, mapping.Create, ingest.Input{Path: in}, ingest.Options{}, 0)
	victim := filepath.Join(t.TempDir(), "precious")
	if err := os.Mkdir(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(victim, "keep.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(rep.State); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, rep.State); err != nil {
		t.Fatal(err)
	}
	for _, fresh := range []bool{true, false} {
		_, err := runImport(t, sim, mapping.Create, ingest.Input{Path: in}, ingest.Options{Fresh: fresh})
		var ce *pipeline.ConfigError
		if !errors.As(err, &ce) {
			t.Fatalf("fresh=%v: %v, want a configuration error refusing the link", fresh, err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(victim, "keep.txt")); err != nil || string(b) != "mine" {
		t.Fatalf("the linked folder lost its file: %q %v", b, err)
	}
	if fi, _ := os.Stat(victim); fi.Mode().Perm() != 0o755 {
		t.Fatalf("the linked folder's mode changed to %v", fi.Mode().Perm())
	}
	if n := len(sim.Tickets()); n != 1 {
		t.Fatalf("%d tickets, want 1", n)
	}
}

// keyedRows is an upsert file of the given columns (the key, 单行文本字段,
// among them).
func keyedFile(t *testing.T, dir, name string, header []string, rows ...[]string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	ingesttest.WriteCSV(t, p, append([][]string{header}, rows...))
	return p
}

// An upsert's notes count what happened: rows Udesk refused are not
// "created"; a dry run says what it would do.
func TestUpsertNotesCountTheRowsWritten(t *testing.T) {
	sim := newSim(t, udesktest.Options{})
	dir := t.TempDir()
	header := []string{"subject", "content", "email", "assignee_name", "单行文本字段"}
	in := keyedFile(t, dir, "src.csv", header,
		[]string{"ok", "c", "a@example.com", "", "K-1"},
		[]string{"refused", "c", "a@example.com", "Nobody At All", "K-2"},
		[]string{"refused too", "c", "a@example.com", "Nobody At All", "K-3"})
	plan, err := ingest.Plan(context.Background(), newClient(t, sim), ingest.Input{Path: in},
		ingest.Options{UpsertKey: "单行文本字段", Tenant: sim.URL()})
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(plan.Notes, "\n")
	if !strings.Contains(notes, "3 rows would create a ticket") || strings.Contains(notes, "rows created") {
		t.Errorf("dry run notes: %q, want 3 rows that would create a ticket and none said created", notes)
	}
	rep := upsert(t, sim, in, ingest.Options{})
	notes = strings.Join(rep.Notes, "\n")
	if rep.Written != 1 || rep.Failed != 2 {
		t.Fatalf("report %+v, want 1 written, 2 failed", rep.Report)
	}
	if !strings.Contains(notes, "1 row created, 0 rows updated") || !strings.Contains(notes, "2 rows planned by this run") {
		t.Errorf("notes %q: want 1 row created and 2 planned rows not written", notes)
	}
	if rep.Facts["creates"] != 1 {
		t.Errorf("facts %v: creates want 1", rep.Facts)
	}
}

// Two runs into one --results folder never leave files of both: the second
// is refused before it sends anything, and the first's files stay as they
// were.
func TestRunRefusesResultsFolderOfAnotherRun(t *testing.T) {
	sim := newSim(t, udesktest.Options{})
	dir := t.TempDir()
	results := filepath.Join(dir, "results")
	header := []string{"subject", "content", "email", "单行文本字段"}
	first := keyedFile(t, dir, "a.csv", header, []string{"one", "c", "a@example.com", "K-1"})
	upsert(t, sim, first, ingest.Options{Results: results})
	// An update of K-1 writes rollback.csv.
	second := keyedFile(t, dir, "b.csv", header, []string{"one, renamed", "c", "a@example.com", "K-1"})
	rep := upsert(t, sim, second, ingest.Options{Results: filepath.Join(dir, "results-b")})
	if _, err := os.Stat(filepath.Join(rep.Results, "rollback.csv")); err != nil {
		t.Fatalf("the update's rollback.csv: %v", err)
	}
	before := map[string]string{}
	for _, name := range []string{"success.csv", "errors.csv", "rollback.csv"} {
		b, _ := os.ReadFile(filepath.Join(rep.Results, name))
		before[name] = string(b)
	}
	writes := len(sim.Log())
	third := keyedFile(t, dir, "c.csv", header, []string{"one", "c", "a@example.com", "K-1"}, []string{"two", "c", "a@example.com", "K-2"})
	for _, in := range []string{third, second} {
		_, err := runImport(t, sim, 0, ingest.Input{Path: in}, ingest.Options{UpsertKey: "单行文本字段", Results: rep.Results})
		var ce *pipeline.ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), "another run") {
			t.Fatalf("%s into the folder of another run: %v, want it refused", in, err)
		}
	}
	for name, was := range before {
		if b, _ := os.ReadFile(filepath.Join(rep.Results, name)); string(b) != was {
			t.Errorf("%s changed", name)
		}
	}
	if n := len(sim.Log()) - writes; n != 0 {
		t.Errorf("%d requests after the refusal", n)
	}
}

// A keyed file without content updates the tickets its keys hold; a row
// whose key is new cannot be created and fails naming the missing column.
func TestUpsertWithoutContentUpdatesExistingKeys(t *testing.T) {
	sim := newSim(t, udesktest.Options{})
	dir := t.TempDir()
	upsert(t, sim, keyedFile(t, dir, "src.csv", []string{"subject", "content", "email", "单行文本字段"},
		[]string{"one", "c", "a@example.com", "K-1"}, []string{"two", "c", "a@example.com", "K-2"}), ingest.Options{})
	in := keyedFile(t, dir, "status.csv", []string{"单行文本字段", "status"},
		[]string{"K-1", "resolved"}, []string{"K-2", "open"}, []string{"K-3", "resolved"})
	rep := upsert(t, sim, in, ingest.Options{})
	if rep.Written != 1 || rep.Failed != 1 || rep.Skipped != 1 {
		t.Fatalf("report %+v: want K-1 updated, K-2 unchanged, K-3 failed", rep.Report)
	}
	errs := ingesttest.ReadCSV(t, filepath.Join(rep.Results, "errors.csv"))
	if len(errs) != 2 || errs[1][0] != "K-3" || !strings.Contains(errs[1][len(errs[1])-1], "no subject or content column") {
		t.Fatalf("errors.csv %v: want K-3's row naming the missing columns", errs)
	}
	for _, tk := range sim.Tickets() {
		if tk.CustomFields[keyField] == "K-1" && tk.Status != "resolved" {
			t.Errorf("K-1's ticket is %s, want resolved", tk.Status)
		}
	}
	if n := len(byKey3(sim)); n != 2 {
		t.Errorf("%d keyed tickets, want 2 (none created for K-3)", n)
	}
}

func byKey3(sim *udesktest.Server) map[string]bool {
	m := map[string]bool{}
	for _, tk := range sim.Tickets() {
		if k := tk.CustomFields[keyField]; strings.HasPrefix(k, "K-") {
			m[k] = true
		}
	}
	return m
}

// Rows that differ from their tickets only in columns an update cannot
// change (the assignee, the group) are counted, in the plan and the run.
func TestUpsertPlanCountsCreateOnlyDifferences(t *testing.T) {
	sim := newSim(t, udesktest.Options{})
	dir := t.TempDir()
	header := []string{"subject", "content", "email", "assignee_name", "单行文本字段"}
	upsert(t, sim, keyedFile(t, dir, "src.csv", header,
		[]string{"one", "c", "a@example.com", "张伟", "K-1"}, []string{"two", "c", "a@example.com", "张伟", "K-2"},
		[]string{"three", "c", "a@example.com", "张伟", "K-3"}), ingest.Options{})
	in := keyedFile(t, dir, "reassign.csv", header,
		[]string{"one", "c", "a@example.com", "李娜", "K-1"},          // only the assignee differs
		[]string{"two, renamed", "c", "a@example.com", "李娜", "K-2"}, // the subject too
		[]string{"three", "c", "a@example.com", "张伟", "K-3"})        // nothing
	plan, err := ingest.Plan(context.Background(), newClient(t, sim), ingest.Input{Path: in},
		ingest.Options{UpsertKey: "单行文本字段", Tenant: sim.URL()})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	plan.Print(&out, udesk.Rate{}, "unlimited")
	if !strings.Contains(out.String(), "2 rows differ from their tickets in columns an update cannot change (assignee_name), 1 of them only there") {
		t.Errorf("plan:\n%s\nwant the rows whose assignee differs counted", out.String())
	}
	if plan.Facts["create_only_differences"] != 2 {
		t.Errorf("facts %v", plan.Facts)
	}
	rep := upsert(t, sim, in, ingest.Options{})
	if !strings.Contains(strings.Join(rep.Notes, "\n"), "columns an update cannot change (assignee_name)") {
		t.Errorf("run notes %q: want the create-only differences", rep.Notes)
	}
}

// copyFile copies src to dst byte for byte.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// An import is its rows: a hard link, a renamed copy beside it and a copy in
// another folder of an imported file send nothing (they report the import
// finished); --fresh sends them again.
func TestRunSameRowsUnderAnotherNameAreTheSameImport(t *testing.T) {
	sim := newSim(t, udesktest.Options{})
	dir, elsewhere, registry := t.TempDir(), t.TempDir(), filepath.Join(t.TempDir(), "jobs")
	in := filepath.Join(dir, "tickets.csv")
	ingesttest.WriteCSV(t, in, [][]string{{"subject", "content", "email"}, {"one", "c", "a@example.com"}, {"two", "c", "a@example.com"}})
	first := mustImport(t, sim, mapping.Create, ingest.Input{Path: in}, ingest.Options{Registry: registry}, 0)
	link := filepath.Join(dir, "linked.csv")
	if err := os.Link(in, link); err != nil {
		t.Fatal(err)
	}
	renamed := filepath.Join(dir, "tickets (copy).csv")
	copyFile(t, in, renamed)
	far := filepath.Join(elsewhere, "other-name.csv")
	copyFile(t, in, far)
	for _, p := range []string{link, renamed, far} {
		rep, err := runImport(t, sim, mapping.Create, ingest.Input{Path: p}, ingest.Options{Registry: registry})
		if err != nil || !rep.AlreadyImported || rep.Written != 2 || rep.State != first.State || rep.Results != first.Results {
			t.Errorf("%s: %v, %+v; want the first import reported finished (state %s)", p, err, rep, first.State)
		}
	}
	if n := len(sim.Tickets()); n != 2 {
		t.Fatalf("%d tickets after the copies, want 2", n)
	}
	rep, err := runImport(t, sim, mapping.Create, ingest.Input{Path: far}, ingest.Options{Registry: registry, Fresh: true})
	if err != nil || rep.AlreadyImported || rep.Written != 2 {
		t.Fatalf("--fresh on a copy: %v, %+v; want every row sent again", err, rep)
	}
	if n := len(sim.Tickets()); n != 4 {
		t.Fatalf("%d tickets after --fresh, want 4", n)
	}
}

// A hard link of an input being imported is the same job: refused by the
// running import's lock, and the rows are created once.
func TestRunHardLinkOfARunningImportIsRefused(t *testing.T) {
	sim := newSim(t, udesktest.Options{Latency: 20 * time.Millisecond})
	dir := t.TempDir()
	in := filepath.Join(dir, "t.csv")
	recs := [][]string{{"subject", "content", "email"}}
	for i := 0; i < 20; i++ {
		recs = append(recs, []string{fmt.Sprintf("row-%02d", i), "c", "a@example.com"})
	}
	ingesttest.WriteCSV(t, in, recs)
	link := filepath.Join(dir, "again.csv")
	if err := os.Link(in, link); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	var first *ingest.Report
	go func() {
		var err error
		first, err = runImport(t, sim, mapping.Create, ingest.Input{Path: in}, ingest.Options{Concurrency: 1})
		done <- err
	}()
	for sim.Requests()[udesktest.EndpointCreate] == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	_, err := runImport(t, sim, mapping.Create, ingest.Input{Path: link}, ingest.Options{})
	var le *pipeline.LockedError
	if !errors.As(err, &le) {
		t.Errorf("the hard link while the import runs: %v, want a *pipeline.LockedError", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if le != nil && le.Dir != first.State {
		t.Errorf("locked state %s, want the running import's %s", le.Dir, first.State)
	}
	if n := len(sim.Tickets()); n != 20 {
		t.Fatalf("%d tickets, want 20", n)
	}
}

// A create file whose id column holds another system's ids (no ticket of the
// tenant has them) imports every row, the column ignored, as before.
func TestCreateWithForeignIDsCreatesEveryRow(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 5})
	in := filepath.Join(t.TempDir(), "zendesk.csv")
	ingesttest.WriteCSV(t, in, [][]string{{"id", "subject", "content", "email"},
		{"900001", "one", "c", "a@example.com"}, {"900002", "two", "c", "a@example.com"}})
	rep := mustImport(t, sim, mapping.Create, ingest.Input{Path: in}, ingest.Options{}, 0)
	if rep.Written != 2 || len(sim.Tickets()) != 7 {
		t.Fatalf("report %+v, %d tickets; want both rows created", rep.Report, len(sim.Tickets()))
	}
	// With one id of the tenant among them the file is refused whole.
	in2 := filepath.Join(t.TempDir(), "mixed.csv")
	ingesttest.WriteCSV(t, in2, [][]string{{"id", "subject", "content", "email"},
		{"900003", "three", "c", "a@example.com"}, {"2", "exported", "c", "a@example.com"}, {"", "added", "c", "a@example.com"}})
	_, err := runImport(t, sim, mapping.Create, ingest.Input{Path: in2}, ingest.Options{})
	var ce *pipeline.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "2 of 3 rows hold a ticket id") {
		t.Fatalf("%v, want the file refused counting 2 of 3 rows with ids", err)
	}
	rep = mustImport(t, sim, mapping.Create, ingest.Input{Path: in2}, ingest.Options{NewRowsOnly: true}, 0)
	if rep.Written != 1 || rep.Skipped != 2 || len(sim.Tickets()) != 8 {
		t.Fatalf("--new-rows-only: %+v, %d tickets; want only the row without an id created", rep.Report, len(sim.Tickets()))
	}
}
