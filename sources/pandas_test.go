package sources

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/udesk-etl/udesk-etl/pipeline"
)

// TestPandasIndexColumnIsIgnored: pandas' to_csv and to_excel write the
// index as a first column with an empty header and the row numbers; it is
// left out with a note, and a cell there that is no row number is a row
// error rather than data silently dropped.
func TestPandasIndexColumnIsIgnored(t *testing.T) {
	csvPath := writeFile(t, "p.csv", []byte(",subject,email\n0,hello,a@example.com\n1,world,b@example.com\nx,lost,c@example.com\n"))
	xlsxPath := filepath.Join(t.TempDir(), "p.xlsx")
	f := excelize.NewFile()
	for i, row := range [][]any{{nil, "subject", "email"}, {0, "hello", "a@example.com"}, {1, "world", "b@example.com"}, {"x", "lost", "c@example.com"}} {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		_ = f.SetSheetRow("Sheet1", cell, &row)
	}
	if err := f.SaveAs(xlsxPath); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{csvPath, xlsxPath} {
		r, err := Open(p, OpenOptions{})
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if want := []string{"subject", "email"}; !reflect.DeepEqual(r.Header(), want) {
			t.Errorf("%s: header %q, want %q", p, r.Header(), want)
		}
		notes := r.(NoteReader).Notes()
		if len(notes) != 1 || !strings.Contains(notes[0], "column 1 has no name") || !strings.Contains(notes[0], "pandas") {
			t.Errorf("%s: notes %q", p, notes)
		}
		recs, errs := readAll(t, r)
		r.Close()
		if len(recs) != 2 || !reflect.DeepEqual(recs[1].Cells, []string{"world", "b@example.com"}) {
			t.Errorf("%s: records %v", p, recs)
		}
		if len(errs) != 1 || errs[0].Pos.Row != 4 || !strings.Contains(errs[0].Error(), `holds "x" here`) {
			t.Errorf("%s: row errors %v, want row 4's index cell", p, errs)
		}
	}
	r, err := Open(writeFile(t, "n.csv", []byte("subject,,email\n")), OpenOptions{})
	if err == nil {
		r.Close()
		t.Error("an unnamed column other than the first was accepted")
	}
}

// TestXLSXFormulaWithoutSavedValue: a formula written by a program that does
// not compute it has no value to import: said so, not read as empty.
func TestXLSXFormulaWithoutSavedValue(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f.xlsx")
	f := excelize.NewFile()
	_ = f.SetSheetRow("Sheet1", "A1", &[]any{"a", "b", "sum"})
	_ = f.SetSheetRow("Sheet1", "A2", &[]any{1, 2})
	if err := f.SetCellFormula("Sheet1", "C2", "A2+B2"); err != nil {
		t.Fatal(err)
	}
	if err := f.SaveAs(p); err != nil {
		t.Fatal(err)
	}
	r, err := Open(p, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	_, err = r.Next(context.Background())
	var re *pipeline.RowError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "cell C2 holds a formula with no saved value; open and save the file in Excel or LibreOffice") {
		t.Errorf("err %v", err)
	}
	if _, err := r.Next(context.Background()); err != io.EOF {
		t.Errorf("after: %v", err)
	}
}
