package sinks

import (
	"math/big"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/udesk-etl/udesk-etl/pipeline"
)

func writeXLSXOriginals(t *testing.T, rows []pipeline.Row) *excelize.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "edit.xlsx")
	w, err := NewXLSXWriter(path, fileTestSchema(), XLSXOptions{Originals: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteRows(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// TestXLSXOriginalsSheet: each row as written, in the CSV writer's text
// forms, in a very hidden sheet; the data sheet is unchanged by it.
func TestXLSXOriginalsSheet(t *testing.T) {
	rows := fileTestRows()
	long := "=" + strings.Repeat("长", xlsxMaxCellChars)
	rows[2].Values[colContent] = long
	f := writeXLSXOriginals(t, rows)
	if got := metaValues(t, f)["originals_sheets"]; got != OriginalsSheet {
		t.Errorf("originals_sheets = %q, want %q", got, OriginalsSheet)
	}
	if v, _ := f.GetSheetVisible(OriginalsSheet); v {
		t.Error("originals sheet is visible")
	}
	if !strings.Contains(f.GetSheetList()[0], "Tickets") || f.GetActiveSheetIndex() != 0 {
		t.Errorf("sheets %v, active %d: the data sheet must come first and be active", f.GetSheetList(), f.GetActiveSheetIndex())
	}
	got := sheetRows(t, f, OriginalsSheet, 11)
	data := sheetRows(t, f, "Tickets", 11)
	if !reflect.DeepEqual(got[0], data[0]) {
		t.Errorf("originals header %q, want the data sheet's %q", got[0], data[0])
	}
	want := [][]string{
		{"1", "打印机坏了", "第一行\r\n第二行\n第三行", "open", "选项 A0", "a,b", "2024-03-05T09:07:30+08:00", "2024-02-29", "1.1", "-42", "09:30:00"},
		make([]string, 11), // the empty row
		{"3", "=SUM(A1:A2)", data[3][colContent], "@cmd", "", "", "", "2023-02-30", "0.3", "12abc", ""},
		{"4", "'quoted", "\ttab", "+1", "", "=x", "1999-12-31T23:59:59+08:00", "1970-01-01", "1000000000000000000000", "9007199254740993", ""},
	}
	if len(got) != 5 {
		t.Fatalf("originals sheet has %d rows, want a header and 4", len(got))
	}
	if !reflect.DeepEqual(got[1:], want) {
		for i := range want {
			if !reflect.DeepEqual(got[i+1], want[i]) {
				t.Errorf("originals row %d:\n got %.300q\nwant %.300q", i+2, got[i+1], want[i])
			}
		}
	}
	if !strings.HasPrefix(data[3][colContent], "=长") || !strings.Contains(data[3][colContent], "truncated") {
		t.Errorf("the long cell was not cut as expected: %.40q", data[3][colContent])
	}
}

func TestXLSXOriginalsRollOverWithTheData(t *testing.T) {
	defer func(rows, sample int) { xlsxMaxRows, xlsxWidthSampleRows = rows, sample }(xlsxMaxRows, xlsxWidthSampleRows)
	xlsxMaxRows, xlsxWidthSampleRows = 3, 2
	var rows []pipeline.Row
	for i := range 5 {
		r := fileTestRows()[0]
		r.Values = append([]any(nil), r.Values...)
		r.Values[colID] = int64(i + 1)
		rows = append(rows, r)
	}
	f := writeXLSXOriginals(t, rows)
	sheets := []string{OriginalsSheet, OriginalsSheet + " 2", OriginalsSheet + " 3"}
	if got := metaValues(t, f)["originals_sheets"]; got != strings.Join(sheets, ",") {
		t.Errorf("originals_sheets = %q", got)
	}
	var ids []string
	for _, s := range sheets {
		for _, r := range sheetRows(t, f, s, 11)[1:] {
			ids = append(ids, r[0])
		}
	}
	if strings.Join(ids, ",") != "1,2,3,4,5" {
		t.Errorf("ids over the originals sheets %v, want 1..5", ids)
	}
}

// TestExcelSerialNeverBeforeTheSecond: the serial a workbook holds is at or
// just after each time, never before it (LibreOffice then shows a time a
// second early), and fits excelize's 15 significant digits uncut.
func TestExcelSerialNeverBeforeTheSecond(t *testing.T) {
	base := time.Date(2019, 1, 1, 0, 0, 0, 0, cst)
	epoch := time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)
	for i := range 5000 {
		ts := base.Add(time.Duration(i*7919) * time.Second)
		s, ok := excelSerial(ts)
		if !ok {
			t.Fatal(ts)
		}
		// excelize cuts the shortest decimal form at 15 significant digits.
		text := strconv.FormatFloat(s, 'f', -1, 64)
		if n := len(strings.TrimLeft(strings.Replace(text, ".", "", 1), "0")); n > 15 {
			t.Fatalf("%s: serial %s has %d significant digits; excelize would cut it", ts, text, n)
		}
		written, _ := new(big.Rat).SetString(text)
		wall := time.Date(ts.Year(), ts.Month(), ts.Day(), ts.Hour(), ts.Minute(), ts.Second(), 0, time.UTC)
		exact := big.NewRat(int64(wall.Sub(epoch)/time.Second), 86400)
		diff, _ := new(big.Rat).Sub(written, exact).Float64()
		if diff < 0 || diff > 1e-9 {
			t.Fatalf("%s: serial written as %s, %g days from the exact time", ts, written.FloatString(12), diff)
		}
	}
	if s, _ := excelSerial(time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC)); s != 43466 {
		t.Errorf("a date's serial %v, want the whole day 43466", s)
	}
}
