package sources

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/sinks"
)

// imported reads the one data row of a workbook as an import sees it: each
// cell with its formula escape undone.
func imported(t *testing.T, path string) []string {
	t.Helper()
	r, err := OpenXLSX(path, "")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rec, err := r.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(rec.Cells))
	for i, c := range rec.Cells {
		out[i] = mapping.UnescapeFormula(c)
	}
	return out
}

var formulaLike = []string{"=1+1", "'=x", "'plain", "+86 10", "-5 apples", "@home", "''"}

// TestXLSXTextKeptAsItIs: our workbooks hold text as the API gave it (a text
// cell is never run as a formula, so there is no visible '), and it imports
// back unchanged, a ' that is part of the value included.
func TestXLSXTextKeptAsItIs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.xlsx")
	var cols []pipeline.Column
	var vals []any
	for i, v := range formulaLike {
		cols = append(cols, pipeline.Column{Name: string(rune('a' + i)), Kind: pipeline.String})
		vals = append(vals, v)
	}
	w, err := sinks.NewXLSXWriter(path, pipeline.Schema{Columns: cols}, sinks.XLSXOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteRows([]pipeline.Row{{Values: vals}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range formulaLike {
		cell, _ := excelize.CoordinatesToCellName(i+1, 2)
		if got, _ := f.GetCellValue("Tickets", cell); got != want {
			t.Errorf("cell %s holds %q, want %q as the API gave it", cell, got, want)
		}
	}
	f.Close()
	for i, got := range imported(t, path) {
		if got != formulaLike[i] {
			t.Errorf("column %d imports as %q, want %q", i+1, got, formulaLike[i])
		}
	}
}

// TestXLSXEscapedWorkbooks: a workbook written before text was kept as it is
// says so in its meta, and its escaped cells import as the value; a workbook
// of someone else's keeps a leading ' that is part of a text.
func TestXLSXEscapedWorkbooks(t *testing.T) {
	for _, c := range []struct {
		name string
		meta bool
		cell string
		want string
	}{
		{"old export", true, "'=x", "=x"},
		{"old export, quote in the value", true, "''=x", "'=x"},
		{"someone else's", false, "'=x", "'=x"},
	} {
		path := filepath.Join(t.TempDir(), "w.xlsx")
		f := excelize.NewFile()
		_ = f.SetSheetRow("Sheet1", "A1", &[]any{"subject"})
		_ = f.SetSheetRow("Sheet1", "A2", &[]any{c.cell})
		if c.meta {
			_, _ = f.NewSheet(mapping.WorkbookMetaSheet)
			_ = f.SetSheetRow(mapping.WorkbookMetaSheet, "A1", &[]any{mapping.MetaFormulaEscape, mapping.FormulaEscapeQuote})
			_ = f.SetSheetVisible(mapping.WorkbookMetaSheet, false)
		}
		if err := f.SaveAs(path); err != nil {
			t.Fatal(err)
		}
		if got := imported(t, path); got[0] != c.want {
			t.Errorf("%s: %q imports as %q, want %q", c.name, c.cell, got[0], c.want)
		}
	}
}
