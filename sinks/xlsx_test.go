package sinks

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/udesk-etl/udesk-etl/pipeline"
)

func writeXLSX(t *testing.T, schema pipeline.Schema, rows []pipeline.Row) (*excelize.File, pipeline.WriterStats) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "out.xlsx")
	w, err := NewXLSXWriter(path, schema, XLSXOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := w.WriteRows([]pipeline.Row{r}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f, w.(pipeline.StatsReporter).Stats()
}

// sheetRows reads a sheet padded to n columns: date columns as Excel shows
// them, everything else as stored.
func sheetRows(t *testing.T, f *excelize.File, sheet string, n int, dateCols ...int) [][]string {
	t.Helper()
	raw, err := f.GetRows(sheet, excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatal(err)
	}
	shown, err := f.GetRows(sheet)
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		for len(raw[i]) < n {
			raw[i] = append(raw[i], "")
		}
		for _, c := range dateCols {
			if i > 0 && c < len(shown[i]) {
				raw[i][c] = shown[i][c]
			}
		}
	}
	return raw
}

func TestXLSXRoundTrip(t *testing.T) {
	f, stats := writeXLSX(t, fileTestSchema(), fileTestRows())
	if stats != (pipeline.WriterStats{Rows: 4, RawValues: 2}) {
		t.Errorf("Stats = %+v, want 4 rows, 2 raw values", stats)
	}
	if got := f.GetSheetList(); !reflect.DeepEqual(got, []string{"Tickets", listsSheet, MetaSheet}) {
		t.Errorf("sheets %q", got)
	}
	want := [][]string{
		{"id", "subject", "content", "status", "下拉列表字段", "复选框", "created_at", "日期", "amount", "count", "时间"},
		{"1", "打印机坏了", "第一行\r\n第二行\n第三行", "open", "选项 A0", "a,b", "2024-03-05 09:07:30", "2024-02-29", "1.1", "-42", "09:30:00"},
		{"", "", "", "", "", "", "", "", "", "", ""},
		// Text cells keep the text as it is: a text cell is never a formula.
		{"3", "=SUM(A1:A2)", "-5", "@cmd", "", "", "", "2023-02-30", "0.3", "12abc", ""},
		{"4", "'quoted", "\ttab", "+1", "", "=x", "1999-12-31 23:59:59", "1970-01-01", "1000000000000000000000", "9007199254740993", ""},
	}
	got := sheetRows(t, f, "Tickets", 11, colCreated, colDate)
	if !reflect.DeepEqual(got, want) {
		for i := range max(len(got), len(want)) {
			if i >= len(got) || i >= len(want) || !reflect.DeepEqual(got[i], want[i]) {
				t.Errorf("row %d:\n got %q\nwant %q", i+1, at(got, i), at(want, i))
			}
		}
	}
	// Dates and datetimes are date cells: numbers with a date format.
	for cell, format := range map[string]string{"G2": "yyyy-mm-dd hh:mm:ss", "H2": "yyyy-mm-dd"} {
		if typ, _ := f.GetCellType("Tickets", cell); typ != excelize.CellTypeUnset && typ != excelize.CellTypeNumber {
			t.Errorf("%s cell type %v, want a number", cell, typ)
		}
		st := cellStyle(t, f, "Tickets", cell)
		if st.CustomNumFmt == nil || *st.CustomNumFmt != format {
			t.Errorf("%s number format %v, want %q", cell, st.CustomNumFmt, format)
		}
	}
	// Read-only columns are grey, with a note on the header.
	for _, cell := range []string{"A1", "A2", "A3", "G2", "G3"} {
		if st := cellStyle(t, f, "Tickets", cell); len(st.Fill.Color) == 0 {
			t.Errorf("read-only cell %s has no fill", cell)
		}
	}
	if st := cellStyle(t, f, "Tickets", "B1"); len(st.Fill.Color) != 0 || st.Font == nil || !st.Font.Bold {
		t.Errorf("editable header B1 style %+v, want bold without fill", st)
	}
	comments, err := f.GetComments("Tickets")
	if err != nil {
		t.Fatal(err)
	}
	var noted []string
	for _, c := range comments {
		noted = append(noted, c.Cell)
		if !strings.Contains(c.Text, "Read-only") {
			t.Errorf("comment on %s = %q", c.Cell, c.Text)
		}
	}
	if !reflect.DeepEqual(noted, []string{"A1", "G1"}) {
		t.Errorf("header notes on %q, want A1 and G1", noted)
	}
	panes, err := f.GetPanes("Tickets")
	if err != nil || !panes.Freeze || panes.YSplit != 1 || panes.TopLeftCell != "A2" {
		t.Errorf("panes %+v %v, want the header row frozen", panes, err)
	}
	if dim, _ := f.GetSheetDimension("Tickets"); dim != "A1:K5" {
		t.Errorf("dimension %q, want A1:K5", dim)
	}
	var filter string
	for _, dn := range f.GetDefinedName() {
		if dn.Name == "_xlnm._FilterDatabase" {
			filter = dn.RefersTo
		}
	}
	if filter != "'Tickets'!$A$1:$K$5" {
		t.Errorf("autofilter %q, want 'Tickets'!$A$1:$K$5", filter)
	}
	for col, want := range map[string]float64{"A": xlsxMinWidth, "E": 15, "B": 12} {
		if w, _ := f.GetColWidth("Tickets", col); w != want {
			t.Errorf("column %s width %v, want %v", col, w, want)
		}
	}
}

func at(rows [][]string, i int) []string {
	if i < len(rows) {
		return rows[i]
	}
	return nil
}

func cellStyle(t *testing.T, f *excelize.File, sheet, cell string) *excelize.Style {
	t.Helper()
	id, err := f.GetCellStyle(sheet, cell)
	if err != nil {
		t.Fatal(err)
	}
	st, err := f.GetStyle(id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestXLSXDropDowns(t *testing.T) {
	schema := fileTestSchema()
	f, _ := writeXLSX(t, schema, fileTestRows())
	dvs, err := f.GetDataValidations("Tickets")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, dv := range dvs {
		got[dv.Sqref] = fmt.Sprintf("%s error=%v", dv.Formula1, dv.ShowErrorMessage)
	}
	want := map[string]string{
		"D2:D1048576": `"open,solved,closed" error=true`,
		"E2:E1048576": `'_udesk_lists'!$E$1:$E$60 error=true`,
		"F2:F1048576": `"a,b,c" error=false`, // a list column: the drop-down only suggests
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("validations %q, want %q", got, want)
	}
	if visible, _ := f.GetSheetVisible(listsSheet); visible {
		t.Error("lists sheet is visible")
	}
	cols, err := f.GetCols(listsSheet)
	if err != nil {
		t.Fatal(err)
	}
	if len(cols) != 5 || !reflect.DeepEqual(cols[4], schema.Columns[colSelect].Options) {
		t.Errorf("lists sheet column E = %q, want the options of column E", at(cols, 4))
	}
}

func metaValues(t *testing.T, f *excelize.File) map[string]string {
	t.Helper()
	if visible, _ := f.GetSheetVisible(MetaSheet); visible {
		t.Error("meta sheet is visible")
	}
	rows, err := f.GetRows(MetaSheet)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 || !reflect.DeepEqual(rows[0], []string{"key", "value"}) {
		t.Fatalf("meta header %q", at(rows, 0))
	}
	m := map[string]string{}
	for _, r := range rows[1:] {
		m[r[0]] = strings.Join(r[1:], "")
	}
	return m
}

func TestXLSXMeta(t *testing.T) {
	schema := fileTestSchema()
	big := strings.Repeat("目录", 20000) + "end" // over a cell's limit
	schema.Meta["udesk.catalog"] = big
	f, _ := writeXLSX(t, schema, fileTestRows())
	got := metaValues(t, f)
	want := map[string]string{
		"udesk.catalog": big, "run": "test",
		"data_sheets": "Tickets", "timestamp_offset": "+0800",
	}
	if !reflect.DeepEqual(got, want) {
		for k := range want {
			if got[k] != want[k] {
				t.Errorf("meta %q = %.60q (%d bytes), want %.60q", k, got[k], len(got[k]), want[k])
			}
		}
		t.Errorf("meta keys %d, want %d", len(got), len(want))
	}
}

func TestXLSXLongCell(t *testing.T) {
	rows := fileTestRows()
	long := "-" + strings.Repeat("长a😀", 9000) // 36001 UTF-16 units
	rows[2].Values[colContent] = long
	f, stats := writeXLSX(t, fileTestSchema(), rows)
	if stats.TooLongCells != 1 {
		t.Errorf("TooLongCells = %d, want 1", stats.TooLongCells)
	}
	cell, err := f.GetCellValue("Tickets", "C4")
	if err != nil {
		t.Fatal(err)
	}
	marker := fmt.Sprintf(" …[truncated: 36001 characters, full text in sheet %s]", LongCellsSheet)
	if !strings.HasSuffix(cell, marker) || !strings.HasPrefix(long, strings.TrimSuffix(cell, marker)) {
		t.Errorf("cell C4 = %.40q...%.80q, want the start of the text and a marker", cell, cell[len(cell)-80:])
	}
	if n := utf16Len(cell); n > xlsxMaxCellChars {
		t.Errorf("cell C4 has %d UTF-16 units, over Excel's limit", n)
	}
	if visible, _ := f.GetSheetVisible(LongCellsSheet); visible {
		t.Error("long cells sheet is visible")
	}
	lc, err := f.GetRows(LongCellsSheet)
	if err != nil {
		t.Fatal(err)
	}
	if len(lc) != 2 || !reflect.DeepEqual(lc[0], []string{"sheet", "cell", "column", "length", "text"}) {
		t.Fatalf("long cells sheet has %d rows, header %q", len(lc), at(lc, 0))
	}
	if !reflect.DeepEqual(lc[1][:4], []string{"Tickets", "C4", "content", "36001"}) {
		t.Errorf("long cell row %q", lc[1][:4])
	}
	if full := strings.Join(lc[1][4:], ""); full != long {
		t.Errorf("long cell text (%d bytes in %d pieces) differs from the original (%d bytes)", len(full), len(lc[1])-4, len(long))
	}
}

func TestXLSXSheetRollover(t *testing.T) {
	defer func(rows, sample int) { xlsxMaxRows, xlsxWidthSampleRows = rows, sample }(xlsxMaxRows, xlsxWidthSampleRows)
	xlsxMaxRows, xlsxWidthSampleRows = 3, 2 // a header and two rows per sheet
	var rows []pipeline.Row
	for i := range 5 {
		r := fileTestRows()[0]
		r.Values = append([]any(nil), r.Values...)
		r.Values[colID] = int64(i + 1)
		rows = append(rows, r)
	}
	f, stats := writeXLSX(t, fileTestSchema(), rows)
	if stats.Rows != 5 {
		t.Errorf("Rows = %d, want 5", stats.Rows)
	}
	wantSheets := []string{"Tickets", "Tickets 2", "Tickets 3"}
	if got := metaValues(t, f)["data_sheets"]; got != strings.Join(wantSheets, ",") {
		t.Errorf("data_sheets = %q", got)
	}
	id := 1
	for i, sheet := range wantSheets {
		got := sheetRows(t, f, sheet, 11)
		wantN := 3
		if i == 2 {
			wantN = 2
		}
		if len(got) != wantN || got[0][0] != "id" {
			t.Fatalf("sheet %q: %d rows starting %q, want a header and %d rows", sheet, len(got), at(got, 0), wantN-1)
		}
		for _, r := range got[1:] {
			if r[0] != fmt.Sprint(id) {
				t.Errorf("sheet %q: id %s, want %d", sheet, r[0], id)
			}
			id++
		}
		if dim, _ := f.GetSheetDimension(sheet); dim != fmt.Sprintf("A1:K%d", wantN) {
			t.Errorf("sheet %q dimension %q", sheet, dim)
		}
		if panes, _ := f.GetPanes(sheet); !panes.Freeze {
			t.Errorf("sheet %q header not frozen", sheet)
		}
		if dvs, _ := f.GetDataValidations(sheet); len(dvs) != 3 {
			t.Errorf("sheet %q has %d drop-downs, want 3", sheet, len(dvs))
		}
	}
	if id != 6 {
		t.Errorf("read %d rows, want 5", id-1)
	}
}

func TestXLSXEmpty(t *testing.T) {
	f, stats := writeXLSX(t, fileTestSchema(), nil)
	if stats.Rows != 0 {
		t.Errorf("Rows = %d", stats.Rows)
	}
	got := sheetRows(t, f, "Tickets", 11)
	if len(got) != 1 || got[0][0] != "id" {
		t.Errorf("empty export rows %q, want the header only", got)
	}
	if _, ok := metaValues(t, f)["timestamp_offset"]; ok {
		t.Error("timestamp_offset recorded without any timestamp")
	}
}
