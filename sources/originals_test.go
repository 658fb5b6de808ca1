package sources

import (
	"github.com/udesk-etl/udesk-etl/mapping"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

// TestOpenOriginalsChainsSheets: the originals of a workbook whose data
// filled several sheets are read as one, in order; a sheet whose header
// differs is refused.
func TestOpenOriginalsChainsSheets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edit.xlsx")
	f := excelize.NewFile()
	sheets := map[string][][]any{
		"Tickets":              {{"id", "subject"}, {1, "a"}, {2, "b"}, {3, "c"}},
		"_udesk_originals":     {{"id", "subject"}, {"1", "a"}, {"2", "b"}},
		"_udesk_originals 2":   {{"id", "subject"}, {"3", "'=c"}},
		"_udesk_originals odd": {{"id", "title"}, {"4", "d"}},
		// An older workbook: its text cells were written escaped.
		MetaSheet: {{"key", "value"}, {MetaOriginalsSheets, "_udesk_originals,_udesk_originals 2"}, {mapping.MetaFormulaEscape, mapping.FormulaEscapeQuote}},
	}
	_ = f.SetSheetName("Sheet1", "Tickets")
	for _, name := range []string{"Tickets", "_udesk_originals", "_udesk_originals 2", "_udesk_originals odd", MetaSheet} {
		if name != "Tickets" {
			if _, err := f.NewSheet(name); err != nil {
				t.Fatal(err)
			}
		}
		for i, row := range sheets[name] {
			cell, _ := excelize.CoordinatesToCellName(1, i+1)
			if err := f.SetSheetRow(name, cell, &row); err != nil {
				t.Fatal(err)
			}
		}
		if strings.HasPrefix(name, "_") {
			_ = f.SetSheetVisible(name, false, true)
		}
	}
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	data, err := OpenXLSX(path, "")
	if err != nil {
		t.Fatal(err)
	}
	got := OriginalsSheets(data.Meta())
	data.Close()
	if !reflect.DeepEqual(got, []string{"_udesk_originals", "_udesk_originals 2"}) {
		t.Fatalf("OriginalsSheets = %q", got)
	}
	r, err := OpenOriginals(path, got)
	if err != nil {
		t.Fatal(err)
	}
	recs, rowErrs := readAll(t, r)
	r.Close()
	var cells [][]string
	for _, rec := range recs {
		cells = append(cells, rec.Cells)
	}
	want := [][]string{{"1", "a"}, {"2", "b"}, {"3", "'=c"}}
	if len(rowErrs) > 0 || !reflect.DeepEqual(cells, want) || !reflect.DeepEqual(r.Header(), []string{"id", "subject"}) {
		t.Errorf("read %q (header %q, row errors %v), want %q", cells, r.Header(), rowErrs, want)
	}

	r, err = OpenOriginals(path, []string{"_udesk_originals", "_udesk_originals odd"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for {
		if _, err = r.Next(t.Context()); err != nil {
			break
		}
	}
	if err == nil || !strings.Contains(err.Error(), "header differs") {
		t.Errorf("a sheet with another header: %v", err)
	}
	if OriginalsSheets(map[string]string{}) != nil {
		t.Error("a workbook without originals lists some")
	}
}
