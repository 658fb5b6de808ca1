package sinks

import (
	"archive/zip"
	"io"
	"math"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/xuri/excelize/v2"
)

// rowsXMLValues are cell values whose XML takes care: escapes, spaces kept,
// characters XML cannot hold, text a reader would take for an escaped
// character, and numbers past 15 significant digits.
var rowsXMLValues = []struct {
	style int
	v     any
}{
	{0, "plain"}, {0, `a&b<c>d"e'f`}, {0, " lead"}, {0, "trail\n"}, {0, "\ttab"},
	{0, "line\nfeed\r\nend"}, {0, "bell\x07 nul\x00 bad\xff utf8"}, {0, "中文，全角"},
	{0, "_x0041_ and _x005F_x0041_ and _x12_ and _xZZZZ_"}, {0, "\U0001F600 \uFFFE"},
	{3, "styled"}, {3, nil}, {0, int64(-42)}, {0, 0.1 + 0.2}, {0, 46000.123456789012345},
	{0, 123456789012345678.0}, {0, 1e-20}, {0, math.MaxFloat64}, {2, 3.5},
}

// The rows written without excelize are the XML excelize's stream writer
// writes for the same cells, and read back as excelize reads its own.
func TestRowsXMLMatchesExcelize(t *testing.T) {
	dir := t.TempDir()
	cols := make([]string, len(rowsXMLValues))
	cells := make([]any, len(rowsXMLValues))
	for i, c := range rowsXMLValues {
		cols[i], _ = excelize.ColumnNumberToName(i + 1)
		cells[i] = c.v
		if c.style != 0 {
			cells[i] = excelize.Cell{StyleID: c.style, Value: c.v}
		}
	}

	f := excelize.NewFile()
	for range 3 {
		if _, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}}); err != nil {
			t.Fatal(err)
		}
	}
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.SetRow("A2", cells); err != nil {
		t.Fatal(err)
	}
	if err := sw.Flush(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "excelize.xlsx")
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`(?s)<row r="2">.*?</row>`).FindString(sheetXML(t, path))

	r, err := newRowsXML(dir, cols)
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	r.startRow(2)
	for i, c := range rowsXMLValues {
		r.cell(i, c.style, c.v)
	}
	if err := r.endRow(); err != nil {
		t.Fatal(err)
	}
	if got := string(r.buf); got != want {
		t.Errorf("rows XML differs from excelize's:\n got %s\nwant %s", got, want)
	}
}

func sheetXML(t *testing.T, path string) string {
	t.Helper()
	z, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	rc, err := z.Open("xl/worksheets/sheet1.xml")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The rows' temp files go with the writer, committed or aborted.
func TestXLSXRowsTempFilesRemoved(t *testing.T) {
	defer func(sample int) { xlsxWidthSampleRows = sample }(xlsxWidthSampleRows)
	xlsxWidthSampleRows = 1 // the sheet, and its rows' file, start on the first row
	for _, end := range []string{"commit", "abort"} {
		t.Run(end, func(t *testing.T) {
			tmp := t.TempDir()
			path := filepath.Join(t.TempDir(), "out.xlsx")
			w, err := NewXLSXWriter(path, fileTestSchema(), XLSXOptions{TmpDir: tmp, Originals: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := w.WriteRows(fileTestRows()); err != nil {
				t.Fatal(err)
			}
			if names := dirEntries(t, tmp); len(names) != 2 {
				t.Fatalf("while writing: temp dir holds %q, want the rows of the data and originals sheets", names)
			}
			if end == "commit" {
				err = w.Commit()
			} else {
				err = w.Abort()
			}
			if err != nil {
				t.Fatal(err)
			}
			if names := dirEntries(t, tmp); len(names) != 0 {
				t.Fatalf("after %s: temp dir holds %q, want nothing", end, names)
			}
		})
	}
}
