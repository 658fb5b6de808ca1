package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/xuri/excelize/v2"

	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/sinks"
	"github.com/udesk-etl/udesk-etl/udesk"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// table is an output read back: the header, and per ticket (in file order)
// its cells in canonical text (see canon).
type exportTable struct {
	header []string
	ids    []int64
	rows   map[int64][]string
}

const tsLayout = "2006-01-02 15:04:05 -0700"

// canon is a typed value in the one text form the tests compare: dates as
// 2006-01-02, timestamps as Unix seconds, lists joined with ",".
func canon(k pipeline.Kind, v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case time.Time:
		if k == pipeline.Date {
			return v.Format("2006-01-02")
		}
		return strconv.FormatInt(v.Unix(), 10)
	case []string:
		return strings.Join(v, ",")
	}
	panic(fmt.Sprintf("canon: %T", v))
}

// canonText reads a text cell as written by the CSV and JSON lines writers.
func canonText(k pipeline.Kind, s string) string {
	if k == pipeline.Timestamp {
		if t, err := time.Parse(tsLayout, s); err == nil {
			return strconv.FormatInt(t.Unix(), 10)
		}
	}
	return s
}

// expected renders the simulator's tickets with the catalog, as the export
// must have written them.
func expectedExport(t *testing.T, sim *udesktest.Server, opts mapping.ExportOptions, tickets []udesktest.Ticket) (pipeline.Schema, *exportTable) {
	t.Helper()
	c, err := udesk.NewClient(udesk.Config{BaseURL: sim.URL(), Signer: udesk.NewMD5Signer(sim.Secret())})
	if err != nil {
		t.Fatal(err)
	}
	fields, err := c.Fields(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	exp := mapping.NewExporter(mapping.NewCatalog(fields), opts)
	schema := exp.Schema()
	tb := &exportTable{rows: map[int64][]string{}}
	for _, c := range schema.Columns {
		tb.header = append(tb.header, c.Name)
	}
	for _, st := range tickets {
		b, _ := json.Marshal(st)
		var ut udesk.Ticket
		if err := json.Unmarshal(b, &ut); err != nil {
			t.Fatal(err)
		}
		r := exp.Row(&ut)
		cells := make([]string, len(r.Values))
		for i, v := range r.Values {
			cells[i] = canon(schema.Columns[i].Kind, v)
			if raw, ok := r.Raw[i]; ok {
				cells[i] = raw
			}
		}
		tb.ids = append(tb.ids, st.ID)
		tb.rows[st.ID] = cells
	}
	return schema, tb
}

func (tb *exportTable) add(t *testing.T, cells []string) {
	t.Helper()
	id, err := strconv.ParseInt(cells[0], 10, 64)
	if err != nil {
		t.Fatalf("id cell %q: %v", cells[0], err)
	}
	if _, dup := tb.rows[id]; dup {
		t.Errorf("ticket %d written twice", id)
	}
	tb.ids = append(tb.ids, id)
	tb.rows[id] = cells
}

func readExportCSV(t *testing.T, path string, schema pipeline.Schema) *exportTable {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	if bom, _ := br.Peek(3); string(bom) == "\uFEFF" {
		br.Discard(3)
	}
	recs, err := csv.NewReader(br).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	tb := &exportTable{header: recs[0], rows: map[int64][]string{}}
	for _, rec := range recs[1:] {
		for i := range rec {
			rec[i] = canonText(schema.Columns[i].Kind, mapping.UnescapeFormula(rec[i]))
		}
		tb.add(t, rec)
	}
	return tb
}

func readExportJSONL(t *testing.T, data []byte, schema pipeline.Schema) *exportTable {
	t.Helper()
	tb := &exportTable{rows: map[int64][]string{}}
	for _, c := range schema.Columns {
		tb.header = append(tb.header, c.Name)
	}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		d := json.NewDecoder(strings.NewReader(sc.Text()))
		d.UseNumber()
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if len(m) != len(schema.Columns) {
			t.Errorf("line has %d keys, want %d", len(m), len(schema.Columns))
		}
		cells := make([]string, len(schema.Columns))
		for i, c := range schema.Columns {
			switch v := m[c.Name].(type) {
			case nil:
			case string:
				cells[i] = canonText(c.Kind, v)
			case json.Number:
				cells[i] = v.String()
			case []any:
				var s []string
				for _, x := range v {
					s = append(s, x.(string))
				}
				cells[i] = strings.Join(s, ",")
			default:
				t.Fatalf("column %s: unexpected %T", c.Name, v)
			}
		}
		tb.add(t, cells)
	}
	return tb
}

func readExportParquet(t *testing.T, path string) *exportTable {
	t.Helper()
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	tb := &exportTable{rows: map[int64][]string{}}
	ncol := int(tbl.NumCols()) - 1 // the last one holds raw values
	if tbl.Schema().Field(ncol).Name != sinks.RawValuesColumn {
		t.Fatalf("last parquet column %q, want %q", tbl.Schema().Field(ncol).Name, sinks.RawValuesColumn)
	}
	for i := range ncol {
		tb.header = append(tb.header, tbl.Schema().Field(i).Name)
	}
	cols := make([][]string, ncol+1)
	for i := range ncol + 1 {
		for _, chunk := range tbl.Column(i).Data().Chunks() {
			for r := range chunk.Len() {
				cols[i] = append(cols[i], arrowCell(t, chunk, r))
			}
		}
	}
	for r := range int(tbl.NumRows()) {
		cells := make([]string, ncol)
		for i := range ncol {
			cells[i] = cols[i][r]
		}
		if raw := cols[ncol][r]; raw != "" {
			var m map[string]string
			if err := json.Unmarshal([]byte(raw), &m); err != nil {
				t.Fatal(err)
			}
			for i, h := range tb.header {
				if v, ok := m[h]; ok {
					cells[i] = v
				}
			}
		}
		tb.add(t, cells)
	}
	return tb
}

func arrowCell(t *testing.T, a arrow.Array, r int) string {
	if a.IsNull(r) {
		return ""
	}
	switch a := a.(type) {
	case *array.String:
		return a.Value(r)
	case *array.Int64:
		return strconv.FormatInt(a.Value(r), 10)
	case *array.Float64:
		return strconv.FormatFloat(a.Value(r), 'f', -1, 64)
	case *array.Date32:
		return a.Value(r).ToTime().Format("2006-01-02")
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		return strconv.FormatInt(a.Value(r).ToTime(unit).Unix(), 10)
	case *array.List:
		lo, hi := a.ValueOffsets(r)
		var s []string
		for j := lo; j < hi; j++ {
			s = append(s, arrowCell(t, a.ListValues(), int(j)))
		}
		return strings.Join(s, ",")
	}
	t.Fatalf("parquet: unexpected array %T", a)
	return ""
}

// readExportXLSX reads the data sheet's raw cell values: dates and timestamps are
// Excel serials (timestamps in the API's +0800 wall time).
func readExportXLSX(t *testing.T, path string, schema pipeline.Schema) *exportTable {
	t.Helper()
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := f.GetRows("Tickets", excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatal(err)
	}
	tb := &exportTable{header: rows[0], rows: map[int64][]string{}}
	cst := time.FixedZone("+0800", 8*3600)
	for _, row := range rows[1:] {
		cells := make([]string, len(schema.Columns))
		copy(cells, row)
		for i, c := range schema.Columns {
			s := mapping.UnescapeFormula(cells[i])
			if serial, err := strconv.ParseFloat(s, 64); err == nil && (c.Kind == pipeline.Date || c.Kind == pipeline.Timestamp) {
				sec := int64(math.Round(serial * 86400))
				wall := time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC).Add(time.Duration(sec) * time.Second)
				if c.Kind == pipeline.Date {
					s = wall.Format("2006-01-02")
				} else {
					y, m, d := wall.Date()
					h, mi, se := wall.Clock()
					s = strconv.FormatInt(time.Date(y, m, d, h, mi, se, 0, cst).Unix(), 10)
				}
			}
			cells[i] = s
		}
		tb.add(t, cells)
	}
	return tb
}

// sameExportTable compares an output with what was expected, ticket by ticket.
func sameExportTable(t *testing.T, what string, got, want *exportTable, crlf bool) {
	t.Helper()
	if !slices.Equal(got.header, want.header) {
		t.Errorf("%s: header %q\nwant %q", what, got.header, want.header)
	}
	if !slices.Equal(got.ids, want.ids) {
		t.Errorf("%s: %d tickets %v\nwant %d: %v", what, len(got.ids), got.ids, len(want.ids), want.ids)
		return
	}
	bad := 0
	for _, id := range want.ids {
		for i, w := range want.rows[id] {
			if crlf {
				w = strings.ReplaceAll(w, "\r\n", "\n") // encoding/csv reads a quoted CRLF as LF
			}
			if g := got.rows[id][i]; g != w && bad < 5 {
				bad++
				t.Errorf("%s: ticket %d column %q = %q, want %q", what, id, want.header[i], g, w)
			}
		}
	}
}

func TestExportSelectorsAndFormats(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 430, Seed: 7})
	all := sim.Tickets()
	email := all[10].UserEmail
	pick := func(keep func(tk udesktest.Ticket) bool) []udesktest.Ticket {
		var out []udesktest.Ticket
		for _, tk := range all {
			if keep(tk) {
				out = append(out, tk)
			}
		}
		return out
	}
	byID := map[int64]udesktest.Ticket{}
	for _, tk := range all {
		byID[tk.ID] = tk
	}
	for _, tc := range []struct {
		name  string
		args  []string
		want  []udesktest.Ticket
		code  int
		notes string
	}{
		{"all", nil, all, exitOK, ""},
		{"filter", []string{"--filter", "1"}, pick(func(tk udesktest.Ticket) bool { return tk.Status == "open" }), exitOK, ""},
		{"filter agent", []string{"--filter", "3", "--agent", "3"}, pick(func(tk udesktest.Ticket) bool {
			return tk.AssigneeID == 3 && (tk.Status == "open" || tk.Status == "solving")
		}), exitOK, ""},
		{"customer", []string{"--customer", email}, pick(func(tk udesktest.Ticket) bool { return tk.UserEmail == email }), exitOK, ""},
		{"ids", []string{"--ids", "17,5,999999,3,5"}, []udesktest.Ticket{byID[17], byID[5], byID[3]}, exitRejected, "ticket 999999 not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.want) == 0 {
				t.Fatal("the selector matches no ticket of the simulator: the test proves nothing")
			}
			dir := t.TempDir()
			outs := []string{filepath.Join(dir, "t.parquet"), filepath.Join(dir, "t.xlsx"), filepath.Join(dir, "t.csv"), filepath.Join(dir, "t.jsonl")}
			report := filepath.Join(dir, "report.json")
			args := []string{"export", "--quiet", "--report", report}
			for _, o := range outs {
				args = append(args, "-o", o)
			}
			before := sim.Requests()
			code, stdout, stderr := runCLI(t, simEnv(sim), append(args, tc.args...)...)
			reqs := 0
			for k, n := range sim.Requests() {
				reqs += n - before[k]
			}
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			if !strings.HasPrefix(stderr, "export: state folder "+filepath.Join(dir, ".udesk-etl", "t.export-")) {
				t.Errorf("stderr does not start by naming the state folder:\n%s", stderr)
			}
			if !strings.Contains(stderr, tc.notes) {
				t.Errorf("stderr lacks %q:\n%s", tc.notes, stderr)
			}
			schema, want := expectedExport(t, sim, mapping.ExportOptions{}, tc.want)
			sameExportTable(t, "parquet", readExportParquet(t, outs[0]), want, false)
			sameExportTable(t, "xlsx", readExportXLSX(t, outs[1], schema), want, false)
			sameExportTable(t, "csv", readExportCSV(t, outs[2], schema), want, true)
			data, err := os.ReadFile(outs[3])
			if err != nil {
				t.Fatal(err)
			}
			sameExportTable(t, "jsonl", readExportJSONL(t, data, schema), want, false)

			var rep summary
			b, err := os.ReadFile(report)
			if err != nil || json.Unmarshal(b, &rep) != nil {
				t.Fatalf("report: %v", err)
			}
			if rep.Written != int64(len(tc.want)) {
				t.Errorf("report: %d written, want %d", rep.Written, len(tc.want))
			}
			if tc.args == nil || tc.args[0] != "--ids" {
				// catalog + pages + end check (none for a single page)
				pages := max((len(tc.want)+99)/100, 1)
				maxReqs := 1 + pages + 1
				if pages == 1 {
					maxReqs = 2
				}
				if reqs != maxReqs || rep.Requests != int64(maxReqs) {
					t.Errorf("%d requests (report: %d) for %d tickets, want %d", reqs, rep.Requests, len(tc.want), maxReqs)
				}
			} else if rep.Failed != 1 || reqs != 5 {
				t.Errorf("ids: %d failed, %d requests; want 1 failed, 5 requests (catalog + 4 ids)", rep.Failed, reqs)
			}
		})
	}
}

func TestExportStdoutAndOptions(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 120, Seed: 3})
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "names.csv")
	// The state folder goes beside the first output file, not in the
	// working folder.
	code, stdout, stderr := runCLI(t, simEnv(sim), "export", "--quiet", "-o", "-", "-o", csvPath,
		"--headers", "names", "--select-values", "indexes", "--bom=false")
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	opts := mapping.ExportOptions{Headers: mapping.HeadersNames, SelectValues: mapping.SelectIndexes}
	schema, want := expectedExport(t, sim, opts, sim.Tickets())
	sameExportTable(t, "stdout", readExportJSONL(t, []byte(stdout), schema), want, false)
	raw, err := os.ReadFile(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	if snaps, _ := filepath.Glob(filepath.Join(dir, ".udesk-etl", "names.export-*", "snap-*")); len(snaps) != 1 {
		t.Errorf("state folders beside %s: %v, want one", csvPath, snaps)
	}
	if strings.HasPrefix(string(raw), "\uFEFF") {
		t.Error("--bom=false: the CSV starts with a BOM")
	}
	got := readExportCSV(t, csvPath, schema)
	sameExportTable(t, "csv", got, want, true)
	if !slices.Contains(got.header, "SelectField_1") {
		t.Errorf("--headers names: header %q lacks SelectField_1", got.header)
	}
}

func TestExportUsageErrors(t *testing.T) {
	env := map[string]string{"UDESK_URL": "http://127.0.0.1:1", "UDESK_SECRET": "s"}
	dir := t.TempDir()
	idFile := filepath.Join(dir, "ids.txt")
	os.WriteFile(idFile, []byte("id\n1\n2\nabc\n"), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "no output"},
		{[]string{"-o", "x.txt"}, "unknown format"},
		{[]string{"-o", filepath.Join(dir, "nope", "x.csv")}, "does not exist"},
		{[]string{"-o", "a.csv", "-o", "a.csv"}, "twice"},
		{[]string{"-o", "a.csv", "--filter", "1", "--customer", "a@b.c"}, "one of them"},
		{[]string{"-o", "a.csv", "--agent", "2"}, "--agent needs --filter"},
		{[]string{"-o", "a.csv", "--headers", "x"}, "--headers"},
		{[]string{"-o", "a.csv", "--select-values", "x"}, "--select-values"},
		{[]string{"-o", "a.csv", "--ids", "1,x"}, `"x" is not a ticket id`},
		{[]string{"-o", "a.csv", "--ids", "@" + idFile}, "line 4"},
		{[]string{"-o", "a.csv", "--ids", "@" + filepath.Join(dir, "missing")}, "--ids @"},
	} {
		code, _, stderr := runCLI(t, env, append([]string{"export"}, tc.args...)...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("export %q: exit %d, stderr %q; want exit 2 and one line with %q", tc.args, code, stderr, tc.want)
		}
	}
}

func TestParseIDsFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ids.csv")
	os.WriteFile(p, []byte("\uFEFFid\r\n7\r\n3, 9;7\n\n12\n"), 0o600)
	ids, dups, err := parseIDs("@" + p)
	if err != nil || !slices.Equal(ids, []int64{7, 3, 9, 12}) || dups != 1 {
		t.Errorf("parseIDs = %v, %d, %v; want [7 3 9 12], 1 repeat", ids, dups, err)
	}
}

func TestExportCompletedStartsNewSnapshot(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 250, Seed: 5})
	dir := t.TempDir()
	out := filepath.Join(dir, "daily.jsonl")
	if code, _, stderr := runCLI(t, simEnv(sim), "export", "--quiet", "-o", out); code != exitOK {
		t.Fatalf("first run: exit %d\n%s", code, stderr)
	}
	sim.UpdateTicket(1, func(tk *udesktest.Ticket) { tk.Subject = "changed overnight" })
	before := sim.Requests()[udesktest.EndpointList]
	code, _, stderr := runCLI(t, simEnv(sim), "export", "--quiet", "-o", out)
	if code != exitOK || !strings.Contains(stderr, "(new snapshot)") {
		t.Fatalf("second run: exit %d, want a new snapshot:\n%s", code, stderr)
	}
	if n := sim.Requests()[udesktest.EndpointList] - before; n != 4 {
		t.Errorf("second run made %d list requests, want 4 (3 pages + end check): it must not reuse old pages", n)
	}
	data, _ := os.ReadFile(out)
	if !strings.Contains(string(data), "changed overnight") {
		t.Error("the second export does not hold the changed ticket")
	}
	// One completed snapshot is kept: its manifest and catalog, no pages.
	snaps, _ := filepath.Glob(filepath.Join(dir, ".udesk-etl", "daily.export-*", "snap-*"))
	if len(snaps) != 1 {
		t.Fatalf("snapshots %v, want one", snaps)
	}
	for _, name := range []string{"manifest.json", "catalog.json", "COMPLETE"} {
		if fi, err := os.Stat(filepath.Join(snaps[0], name)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(snaps[0], "pages")); !os.IsNotExist(err) {
		t.Errorf("a completed snapshot keeps its pages: %v", err)
	}
	man, _ := os.ReadFile(filepath.Join(snaps[0], "manifest.json"))
	if strings.Contains(string(man), sim.Secret()) || !strings.Contains(string(man), `"tickets_written": 250`) {
		t.Errorf("manifest:\n%s", man)
	}
}

// discard is a stream that keeps nothing, for runs whose output is not checked.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
