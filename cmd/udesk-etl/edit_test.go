package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/udesk-etl/udesk-etl/sinks"
	"github.com/udesk-etl/udesk-etl/sources"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// Option lists of the simulator's catalog and value names, in index order.
var (
	editPriorities = []string{"紧急", "高", "标准", "低"}
	editPriorityEN = map[string]string{"紧急": "urgency", "高": "high", "标准": "medium", "低": "low"}
	editStatuses   = []string{"open", "solving", "resolved", "closed"}
	editDroplist   = []string{"下拉选项1", "下拉选项2", "下拉选项3"}
	editRadio      = []string{"单选框选项1", "单选框选项2"}
)

// nextOption is the option after cur (the first when cur is not one).
func nextOption(opts []string, cur string) (string, int) {
	i := (slices.Index(opts, cur) + 1) % len(opts)
	return opts[i], i
}

// sheetEdit is one cell a user changes in the workbook, what the update
// must carry for it, and what the simulator's ticket must then hold.
type sheetEdit struct {
	column  string
	value   any                       // set with excelize, as a user would type it
	put     string                    // the update body's key: "priority" or "custom_fields.SelectField_1"
	putVal  string                    // its value
	apply   func(t *udesktest.Ticket) // the ticket as it must be afterwards
	wantSim string                    // for the failure message
}

func customEdit(column, field string, value any, put, wire string) sheetEdit {
	return sheetEdit{column: column, value: value, put: "custom_fields." + field, putVal: put,
		apply: func(t *udesktest.Ticket) { t.CustomFields[field] = wire }, wantSim: wire}
}

type openWorkbook struct {
	f      *excelize.File
	sheet  string
	header map[string]int // column name -> 1-based column
}

func openEditWorkbook(t *testing.T, path string) *openWorkbook {
	t.Helper()
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	w := &openWorkbook{f: f, sheet: f.GetSheetName(0), header: map[string]int{}}
	cols, err := f.GetRows(w.sheet)
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range cols[0] {
		w.header[h] = i + 1
	}
	return w
}

func (w *openWorkbook) ref(t *testing.T, column string, row int) string {
	t.Helper()
	c, ok := w.header[column]
	if !ok {
		t.Fatalf("the workbook has no column %q", column)
	}
	ref, _ := excelize.CoordinatesToCellName(c, row)
	return ref
}

func (w *openWorkbook) get(t *testing.T, column string, row int) string {
	t.Helper()
	v, err := w.f.GetCellValue(w.sheet, w.ref(t, column, row))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (w *openWorkbook) set(t *testing.T, column string, row int, v any) {
	t.Helper()
	if err := w.f.SetCellValue(w.sheet, w.ref(t, column, row), v); err != nil {
		t.Fatal(err)
	}
}

var putPath = regexp.MustCompile(`^/api/v1/tickets/(\d+)(?:\.json)?$`)

// putBodies returns the update bodies the simulator received, by ticket id.
func putBodies(t *testing.T, sim *udesktest.Server) map[int64]map[string]any {
	t.Helper()
	out := map[int64]map[string]any{}
	for _, r := range sim.Log() {
		if r.Method != "PUT" {
			continue
		}
		m := putPath.FindStringSubmatch(r.Path)
		if m == nil {
			t.Fatalf("PUT to %s", r.Path)
		}
		id, _ := strconv.ParseInt(m[1], 10, 64)
		var body struct {
			Ticket map[string]any `json:"ticket"`
		}
		if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
			t.Fatalf("PUT %s body %q: %v", r.Path, r.Body, err)
		}
		if _, dup := out[id]; dup {
			t.Errorf("ticket %d updated twice", id)
		}
		out[id] = body.Ticket
	}
	return out
}

func ticketMap(sim *udesktest.Server) map[int64]udesktest.Ticket {
	m := map[int64]udesktest.Ticket{}
	for _, t := range sim.Tickets() {
		m[t.ID] = t
	}
	return m
}

// TestEditWorkbookRoundTrip: export 1,000 tickets to a workbook, change 17
// cells in 12 rows with excelize, and import it: exactly 12 updates, each
// carrying exactly its changed fields, and the simulator then holds what the
// workbook says while every other ticket is untouched.
func TestEditWorkbookRoundTrip(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 1000, Seed: 11})
	env := simEnv(sim)
	dir := t.TempDir()
	book := filepath.Join(dir, "edit.xlsx")
	if code, _, stderr := runCLI(t, env, "export", "-o", book, "--quiet"); code != 0 {
		t.Fatalf("export: exit %d\n%s", code, stderr)
	}
	before := ticketMap(sim)
	w := openEditWorkbook(t, book)

	edits := map[int][]sheetEdit{} // workbook row -> edits
	rowOf := func(k int) int { return 2 + k*83 }
	for k := range 12 {
		r := rowOf(k)
		var es []sheetEdit
		prio := func() sheetEdit {
			p, _ := nextOption(editPriorities, w.get(t, "priority", r))
			return sheetEdit{column: "priority", value: p, put: "priority", putVal: editPriorityEN[p],
				apply: func(t *udesktest.Ticket) { t.Priority = p }, wantSim: p}
		}
		status := func() sheetEdit {
			s, _ := nextOption(editStatuses, w.get(t, "status", r))
			return sheetEdit{column: "status", value: s, put: "status", putVal: s,
				apply: func(t *udesktest.Ticket) { t.Status = s }, wantSim: s}
		}
		switch k {
		case 0:
			es = append(es, prio(), sheetEdit{column: "subject", value: "改过的标题", put: "subject", putVal: "改过的标题",
				apply: func(t *udesktest.Ticket) { t.Subject = "改过的标题" }})
		case 1:
			es = append(es, status())
		case 2:
			l, i := nextOption(editDroplist, w.get(t, "下拉列表字段", r))
			es = append(es, customEdit("下拉列表字段", "SelectField_1", l, l, strconv.Itoa(i)),
				customEdit("日期字段", "TextField_3", time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC), "2030-01-02", "2030-01-02"))
		case 3:
			es = append(es, customEdit("正整数字段", "TextField_7", 4242, "4242", "4242"),
				customEdit("时间字段", "TextField_4", "08:09:10", "08:09:10", "08:09:10"))
		case 4:
			es = append(es, customEdit("数值字段", "TextField_8", 123456.5, "123456.5", "123456.5"))
		case 5:
			v, wire := "多选框选项2,多选框选项3", "1,2"
			if w.get(t, "多选框字段", r) == v {
				v, wire = "多选框选项1", "0"
			}
			es = append(es, customEdit("多选框字段", "SelectField_3", v, v, wire))
		case 6:
			l, i := nextOption(editRadio, w.get(t, "单选框字段", r))
			es = append(es, customEdit("单选框字段", "SelectField_2", l, l, strconv.Itoa(i)))
		case 7:
			es = append(es, sheetEdit{column: "content", value: "新的内容\n第二行", put: "content", putVal: "新的内容\n第二行",
				apply: func(t *udesktest.Ticket) { t.Content = "新的内容\n第二行" }})
		case 8:
			es = append(es, customEdit("单行文本字段", "TextField_1", "改过的文本", "改过的文本", "改过的文本"))
		case 9:
			es = append(es, customEdit("日期时间字段", "TextField_5", "2031-03-04 05:06", "2031-03-04 05:06", "2031-03-04 05:06"))
		case 10:
			es = append(es, prio(), status())
		case 11:
			es = append(es, sheetEdit{column: "subject", value: "=1+1 不是公式", put: "subject", putVal: "=1+1 不是公式",
				apply: func(t *udesktest.Ticket) { t.Subject = "=1+1 不是公式" }},
				customEdit("链接字段", "TextField_6", "https://example.com/edited", "https://example.com/edited", "https://example.com/edited"))
		}
		edits[r] = es
	}
	cells := 0
	for r, es := range edits {
		for _, e := range es {
			w.set(t, e.column, r, e.value)
			cells++
		}
	}
	if cells != 17 || len(edits) != 12 {
		t.Fatalf("the test edits %d cells in %d rows, want 17 in 12", cells, len(edits))
	}
	if err := w.f.Save(); err != nil {
		t.Fatal(err)
	}
	idOf := map[int]int64{}
	for r := range edits {
		id, err := strconv.ParseInt(w.get(t, "id", r), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		idOf[r] = id
	}

	// The dry run shows the change set and sends nothing.
	diff := filepath.Join(dir, "changes.csv")
	code, stdout, stderr := runCLI(t, env, "import", "--update", "-i", book, "--dry-run", "--diff", diff, "--quiet")
	if code != 0 {
		t.Fatalf("dry run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if n := sim.Requests()[udesktest.EndpointUpdate]; n != 0 {
		t.Fatalf("the dry run sent %d updates", n)
	}
	for r, es := range edits {
		for _, e := range es {
			if e.column == "priority" {
				line := fmt.Sprintf("#%d priority: %s -> %s", idOf[r], before[idOf[r]].Priority, e.value)
				if !strings.Contains(stdout, line) {
					t.Errorf("the dry run does not show %q:\n%s", line, stdout)
				}
			}
		}
	}
	for _, want := range []string{"12 updates (PUT", "12 rows changed (17 fields), 988 unchanged", "API calls: 12 writes"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the dry run does not say %q:\n%s", want, stdout)
		}
	}
	if recs := readCSV(t, diff); len(recs) != 18 || !reflect.DeepEqual(recs[0], []string{"row", "id", "column", "field", "old", "new"}) {
		t.Errorf("--diff has %d lines (want a header and 17): %q", len(recs), recs)
	}

	code, stdout, stderr = runCLI(t, env, "import", "--update", "-i", book, "--quiet")
	if code != 0 {
		t.Fatalf("import: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "12 rows changed (17 fields), 988 unchanged") {
		t.Errorf("the summary does not count the changes:\n%s", stderr)
	}
	if n := sim.Requests()[udesktest.EndpointUpdate]; n != 12 {
		t.Errorf("%d update requests, want 12", n)
	}
	bodies := putBodies(t, sim)
	after := ticketMap(sim)
	for r, es := range edits {
		id := idOf[r]
		want := map[string]any{}
		wantT := before[id]
		wantT.CustomFields = cloneMap(before[id].CustomFields)
		for _, e := range es {
			if k, ok := strings.CutPrefix(e.put, "custom_fields."); ok {
				cf, _ := want["custom_fields"].(map[string]any)
				if cf == nil {
					cf = map[string]any{}
					want["custom_fields"] = cf
				}
				cf[k] = e.putVal
			} else {
				want[e.put] = e.putVal
			}
			e.apply(&wantT)
		}
		if !reflect.DeepEqual(bodies[id], want) {
			t.Errorf("row %d (ticket %d): update body %v, want exactly %v", r, id, bodies[id], want)
		}
		got := after[id]
		got.UpdatedAt, wantT.UpdatedAt = "", ""
		got.SolvingAt, wantT.SolvingAt = "", "" // set by the simulator when the status leaves open
		if !reflect.DeepEqual(got, wantT) {
			t.Errorf("row %d: ticket %d is\n%+v\nwant\n%+v", r, id, got, wantT)
		}
		delete(after, id)
	}
	for id, tk := range after {
		if !reflect.DeepEqual(tk, before[id]) {
			t.Errorf("ticket %d changed though its row was not edited", id)
		}
	}
}

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// TestEditConflictIsLeftAlone: a ticket changed in Udesk after the export is
// reported and not overwritten; the other changed row goes through.
func TestEditConflictIsLeftAlone(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 40, Seed: 5})
	env := simEnv(sim)
	dir := t.TempDir()
	book := filepath.Join(dir, "edit.xlsx")
	if code, _, stderr := runCLI(t, env, "export", "-o", book, "--quiet"); code != 0 {
		t.Fatalf("export: exit %d\n%s", code, stderr)
	}
	w := openEditWorkbook(t, book)
	var ids [2]int64
	var wanted [2]string
	for i, r := range []int{3, 7} {
		ids[i], _ = strconv.ParseInt(w.get(t, "id", r), 10, 64)
		wanted[i], _ = nextOption(editPriorities, w.get(t, "priority", r))
		w.set(t, "priority", r, wanted[i])
	}
	if err := w.f.Save(); err != nil {
		t.Fatal(err)
	}
	// Someone else changes the first ticket's priority in Udesk meanwhile.
	orig, _ := sim.Ticket(ids[0])
	theirs, _ := nextOption(editPriorities, wanted[0])
	sim.UpdateTicket(ids[0], func(tk *udesktest.Ticket) { tk.Priority = theirs })

	results := filepath.Join(dir, "results")
	code, stdout, stderr := runCLI(t, env, "import", "--update", "-i", book, "--check-conflicts", "--results", results, "--quiet")
	if code != exitRejected {
		t.Fatalf("exit %d, want %d (a row rejected)\n%s\n%s", code, exitRejected, stdout, stderr)
	}
	if got, _ := sim.Ticket(ids[0]); got.Priority != theirs {
		t.Errorf("ticket %d priority %q: the conflicting change was overwritten (want %q)", ids[0], got.Priority, theirs)
	}
	if got, _ := sim.Ticket(ids[1]); got.Priority != wanted[1] {
		t.Errorf("ticket %d priority %q, want %q", ids[1], got.Priority, wanted[1])
	}
	req := sim.Requests()
	if req[udesktest.EndpointTicket] != 2 || req[udesktest.EndpointUpdate] != 1 {
		t.Errorf("requests %v: want 2 ticket reads and 1 update", req)
	}
	errs := readCSV(t, filepath.Join(results, "errors.csv"))
	if len(errs) != 2 {
		t.Fatalf("errors.csv: %q, want one row", errs)
	}
	h := errs[0]
	code1, msg := errs[1][slices.Index(h, "error_code")], errs[1][slices.Index(h, "error_message")]
	if code1 != "conflict" {
		t.Errorf("error_code %q, want conflict", code1)
	}
	for _, part := range []string{"row 3", strconv.FormatInt(ids[0], 10), "priority was " + orig.Priority, "now " + theirs, "wants " + wanted[0], "left alone"} {
		if !strings.Contains(msg, part) {
			t.Errorf("error_message %q does not say %q", msg, part)
		}
	}
	if !strings.Contains(stderr, "1 row was left alone") {
		t.Errorf("the summary does not report the conflict:\n%s", stderr)
	}
}

// TestEditCSVRoundTrip: a CSV export keeps its originals beside it; edits
// send only the changes, and added, deleted and read-only edits are reported.
func TestEditCSVRoundTrip(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 60, Seed: 9})
	env := simEnv(sim)
	dir := t.TempDir()
	out := filepath.Join(dir, "tickets.csv")
	code, _, stderr := runCLI(t, env, "export", "-o", out, "--quiet")
	if code != 0 {
		t.Fatalf("export: exit %d\n%s", code, stderr)
	}
	orig := sinks.CSVOriginalsPath(out)
	if !strings.Contains(stderr, orig) {
		t.Errorf("the export's summary does not name %s:\n%s", orig, stderr)
	}
	for _, p := range []string{orig, sinks.CSVCatalogPath(out)} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, want a file with mode 0600", p, err)
		}
	}

	r, err := sources.OpenCSV(out, sources.CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	header := r.Header()
	var recs [][]string
	for {
		rec, err := r.Next(t.Context())
		if err != nil {
			break
		}
		recs = append(recs, rec.Cells)
	}
	r.Close()
	col := func(name string) int { return slices.Index(header, name) }
	// Row 2: priority changed. Row 3: a custom field changed. Row 4: the
	// read-only user column edited. Row 5 deleted. Two rows added.
	newPrio, _ := nextOption(editPriorities, recs[0][col("priority")])
	recs[0][col("priority")] = newPrio
	recs[1][col("单行文本字段")] = "CSV 里改的"
	recs[2][col("user")] = "somebody else"
	deleted := recs[3][col("id")]
	recs = slices.Delete(recs, 3, 4)
	added := make([]string, len(header))
	added[col("id")], added[col("subject")] = "99999999", "a new row"
	blankID := make([]string, len(header))
	blankID[col("subject")] = "another new row"
	recs = append(recs, added, blankID)
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	cw := csv.NewWriter(f)
	if err := cw.WriteAll(append([][]string{header}, recs...)); err != nil {
		t.Fatal(err)
	}
	f.Close()

	results := filepath.Join(dir, "results")
	diff := filepath.Join(dir, "diff.csv")
	code, stdout, stderr := runCLI(t, env, "import", "--update", "-i", out, "--results", results, "--diff", diff, "--quiet")
	if code != exitRejected {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, exitRejected, stdout, stderr)
	}
	if n := sim.Requests()[udesktest.EndpointUpdate]; n != 2 {
		t.Errorf("%d updates, want 2", n)
	}
	codes := map[string]string{}
	errs := readCSV(t, filepath.Join(results, "errors.csv"))
	for _, e := range errs[1:] {
		codes[e[col("subject")]+"|"+e[col("id")]] = e[len(e)-2]
	}
	want := map[string]string{
		recs[2][col("subject")] + "|" + recs[2][col("id")]: "read_only",
		"a new row|99999999": "added_row",
		"another new row|":   "added_row",
	}
	if !reflect.DeepEqual(codes, want) {
		t.Errorf("errors.csv codes %v, want %v", codes, want)
	}
	if !strings.Contains(stderr, "1 exported tickets are not in the file") || !strings.Contains(stderr, "#"+deleted) {
		t.Errorf("the summary does not report the deleted row #%s:\n%s", deleted, stderr)
	}
	d := readCSV(t, diff)
	if len(d) != 3 || d[1][3] != "priority" || d[1][5] != newPrio || d[2][3] != "TextField_1" {
		t.Errorf("--diff: %q", d)
	}
}

// TestEditFlags: the round-trip flags are refused where there is nothing to
// compare with, and --no-originals sends every filled cell as before.
func TestEditFlags(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 5, Seed: 2})
	env := simEnv(sim)
	dir := t.TempDir()
	book := filepath.Join(dir, "edit.xlsx")
	plain := filepath.Join(dir, "plain.csv")
	if code, _, stderr := runCLI(t, env, "export", "-o", book, "--quiet"); code != 0 {
		t.Fatalf("export: exit %d\n%s", code, stderr)
	}
	exported := len(sim.Log())
	writeCSVTest(t, plain, [][]string{{"id", "priority"}, {"1", "高"}})
	replies := filepath.Join(dir, "replies.csv")
	writeCSVTest(t, replies, [][]string{{"id", "reply_content", "email"}, {"1", "hi", "a@example.com"}})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--update", "-i", plain, "--check-conflicts"}, "has no original rows"},
		{[]string{"--update", "-i", plain, "--originals", plain + ".txt"}, "want a workbook exported for editing"},
		{[]string{"--update", "-i", book, "--no-originals", "--diff", filepath.Join(dir, "d.csv")}, "cannot be used with --no-originals"},
		{[]string{"--reply", "-i", replies, "--check-conflicts"}, "only an --update"},
	} {
		code, _, stderr := runCLI(t, env, append([]string{"import", "--quiet"}, tc.args...)...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("import %v: exit %d, want %d saying %q:\n%s", tc.args, code, exitUsage, tc.want, stderr)
		}
	}
	for _, r := range sim.Log()[exported:] {
		if r.Endpoint != udesktest.EndpointFields {
			t.Errorf("a refused command made a request: %s %s", r.Method, r.Path)
		}
	}
	code, _, stderr := runCLI(t, env, "import", "--update", "-i", book, "--no-originals", "--quiet")
	if code != 0 {
		t.Fatalf("--no-originals: exit %d\n%s", code, stderr)
	}
	if n := sim.Requests()[udesktest.EndpointUpdate]; n != 5 {
		t.Errorf("--no-originals sent %d updates, want one per row (5)", n)
	}
}
