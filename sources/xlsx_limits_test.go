package sources

import (
	"archive/zip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/sinks"
)

// rawWorkbook is a one-sheet workbook whose sheetData is rows, with the
// given shared strings.
func rawWorkbook(t testing.TB, rows string, sst ...string) []byte {
	t.Helper()
	files := map[string]string{
		"_rels/.rels":                `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`,
		"xl/workbook.xml":            `<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>`,
		"xl/_rels/workbook.xml.rels": `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>`,
		"xl/worksheets/sheet1.xml":   `<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>` + rows + `</sheetData></worksheet>`,
	}
	var b strings.Builder
	b.WriteString(`<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">`)
	for _, s := range sst {
		b.WriteString("<si><t>" + s + "</t></si>")
	}
	files["xl/sharedStrings.xml"] = b.String() + "</sst>"
	return zipOf(t, files)
}

func inlineCell(ref, text string) string {
	return `<c r="` + ref + `" t="inlineStr"><is><t>` + text + `</t></is></c>`
}

// A cell over Excel's 32,767 characters (inline, shared, or so long that the
// XML reader cuts it) is a row error naming the cell; its text is not kept,
// and the rows around it read as usual.
func TestXLSXCellOverExcelLimitIsARowError(t *testing.T) {
	fits := strings.Repeat("长", 32767)
	rows := `<row r="1">` + inlineCell("A1", "subject") + inlineCell("B1", "content") + `</row>` +
		`<row r="2">` + inlineCell("A2", "ok") + inlineCell("B2", fits) + `</row>` +
		`<row r="3">` + inlineCell("A3", "inline") + inlineCell("B3", fits+"x") + `</row>` +
		`<row r="4">` + inlineCell("A4", "shared") + `<c r="B4" t="s"><v>0</v></c></row>` +
		`<row r="5">` + inlineCell("A5", "huge") + inlineCell("C5", strings.Repeat("A", 3<<20)) + `</row>` +
		`<row r="6">` + inlineCell("A6", "escaped") + inlineCell("B6", strings.Repeat("&amp;", 40000)) + `</row>` +
		`<row r="7">` + inlineCell("A7", "after") + inlineCell("B7", "fine") + `</row>`
	p := writeFile(t, "long.xlsx", rawWorkbook(t, rows, strings.Repeat("x", 40000)))
	r, err := Open(p, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var good []string
	var bad []string
	for {
		rec, err := r.Next(context.Background())
		if err == io.EOF {
			break
		}
		var re *pipeline.RowError
		switch {
		case errors.As(err, &re):
			bad = append(bad, re.Error())
			for _, c := range rec.Cells[1:] {
				if c != "" {
					t.Errorf("row %d keeps %d bytes of the long cell", rec.Pos.Row, len(c))
				}
			}
		case err != nil:
			t.Fatal(err)
		default:
			good = append(good, rec.Cells[0])
			if rec.Cells[0] == "ok" && rec.Cells[1] != fits {
				t.Errorf("a cell of exactly 32,767 characters read back with %d", len([]rune(rec.Cells[1])))
			}
		}
	}
	if strings.Join(good, ",") != "ok,after" {
		t.Errorf("good rows %v", good)
	}
	want := []string{"row 3: cell B3 ", "row 4: cell B4 ", "row 5: cell C5 ", "row 6: cell B6 "}
	if len(bad) != len(want) {
		t.Fatalf("row errors %q, want %d", bad, len(want))
	}
	for i, w := range want {
		if !strings.Contains(bad[i], w) || !strings.Contains(bad[i], "more than Excel's limit of 32,767 characters") {
			t.Errorf("row error %q, want it to say %q is over Excel's limit", bad[i], w)
		}
	}
}

// A 64 MiB cell is skipped as it streams by: reading it allocates a small
// part of it.
func TestXLSXHugeCellIsNotReadIntoMemory(t *testing.T) {
	rows := `<row r="1">` + inlineCell("A1", "content") + `</row><row r="2">` + inlineCell("A2", strings.Repeat("A", 64<<20)) + `</row>`
	p := writeFile(t, "huge.xlsx", rawWorkbook(t, rows))
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r, err := Open(p, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	_, err = r.Next(context.Background())
	runtime.ReadMemStats(&after)
	var re *pipeline.RowError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "cell A2") {
		t.Fatalf("err = %v, want a row error for cell A2", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("reading a 64 MiB cell allocated %d MiB", alloc>>20)
	}
}

// A tag longer than any real one ends the read with an error instead of
// being held in memory.
func TestXLSXHugeTagIsAnError(t *testing.T) {
	rows := `<row r="1">` + inlineCell("A1", "content") + `</row><row r="2" x="` + strings.Repeat("A", 2<<20) + `"></row>`
	r, err := Open(writeFile(t, "tag.xlsx", rawWorkbook(t, rows)), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err = r.Next(context.Background()); err == nil || !strings.Contains(err.Error(), "XML tag longer than") {
		t.Errorf("err = %v", err)
	}
}

// Our exporter cuts a text over Excel's limit, with a visible marker, and
// keeps the whole in the hidden _long_cells sheet: reading the workbook
// back restores it, in the data sheet and in the originals sheet, also after
// the rows were sorted; a cut cell whose whole text is not there is a row
// error, never imported cut.
func TestXLSXLongCellsAreRestored(t *testing.T) {
	long := strings.Repeat("长文本", 13333) + "=end" // 40,003 characters
	other := "+" + strings.Repeat("y", 40000)     // formula-escaped by the writer
	path := filepath.Join(t.TempDir(), "long.xlsx")
	schema := pipeline.Schema{Columns: []pipeline.Column{{Name: "id", Field: "id", Kind: pipeline.Int64}, {Name: "content", Field: "content", Kind: pipeline.String}}}
	w, err := sinks.NewXLSXWriter(path, schema, sinks.XLSXOptions{Originals: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteRows([]pipeline.Row{{Values: []any{int64(1), long}}, {Values: []any{int64(2), "short"}}, {Values: []any{int64(3), other}}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"1": long, "2": "short", "3": "'" + other}
	check := func(what string, r pipeline.RecordReader) {
		t.Helper()
		defer r.Close()
		recs, errs := readAll(t, r)
		if len(errs) != 0 || len(recs) != 3 {
			t.Fatalf("%s: %d rows, errors %v", what, len(recs), errs)
		}
		for _, rec := range recs {
			if got := rec.Cells[1]; got != want[rec.Cells[0]] {
				t.Errorf("%s: row %s read back with %d characters (%.40q...), want %d", what, rec.Cells[0], len([]rune(got)), got, len([]rune(want[rec.Cells[0]])))
			}
		}
	}
	r, err := OpenXLSX(path, "")
	if err != nil {
		t.Fatal(err)
	}
	sheets := OriginalsSheets(r.Meta())
	check("data sheet", r)
	if len(sheets) != 1 {
		t.Fatalf("originals sheets %v", sheets)
	}
	o, err := OpenOriginals(path, sheets)
	if err != nil {
		t.Fatal(err)
	}
	check("originals", o)

	// Rows sorted (row 4 now first), and a cut cell edited.
	data := readZip(t, path)
	sheet := data["xl/worksheets/sheet1.xml"]
	i, j := strings.Index(sheet, `<row r="2"`), strings.Index(sheet, `<row r="4"`)
	k := strings.Index(sheet[j:], "</row>") + j + len("</row>")
	if i < 0 || j < 0 {
		t.Fatalf("unexpected sheet XML: %.300s", sheet)
	}
	moved := strings.NewReplacer(`r="A4"`, `r="A2"`, `r="B4"`, `r="B2"`, `<row r="4"`, `<row r="2"`).Replace(sheet[j:k])
	rest := strings.NewReplacer(`r="A2"`, `r="A3"`, `r="B2"`, `r="B3"`, `<row r="2"`, `<row r="3"`, `r="A3"`, `r="A4"`, `r="B3"`, `r="B4"`, `<row r="3"`, `<row r="4"`).Replace(sheet[i:j])
	data["xl/worksheets/sheet1.xml"] = sheet[:i] + moved + rest + sheet[k:]
	sorted, err := Open(writeFile(t, "sorted.xlsx", zipOf(t, data)), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	check("sorted", sorted)

	data["xl/worksheets/sheet1.xml"] = strings.Replace(sheet, "长文本", "改了", 1)
	edited, err := Open(writeFile(t, "edited.xlsx", zipOf(t, data)), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer edited.Close()
	recs, errs := readAll(t, edited)
	if len(recs) != 2 || len(errs) != 1 || errs[0].Pos.Row != 2 || errs[0].Column != "content" ||
		!strings.Contains(errs[0].Error(), "cell B2 holds a text cut to Excel's limit by the export") {
		t.Errorf("an edited cut cell: %d rows, errors %v", len(recs), errs)
	}
}

func readZip(t testing.TB, path string) map[string]string {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	files := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		files[f.Name] = string(b)
	}
	return files
}

// A small workbook whose shared-strings table expands to far more text than
// it could hold as written (distinct long strings that compress to nothing)
// is refused before the table fills memory, naming the table.
func TestXLSXHugeSharedStringsAreRefused(t *testing.T) {
	long := strings.Repeat("重复", 15000)
	sst := make([]string, 1200) // 1200 x 90 KB = 108 MB of text
	for i := range sst {
		sst[i] = long + strconv.Itoa(i)
	}
	rows := `<row r="1">` + inlineCell("A1", "content") + `</row><row r="2"><c r="A2" t="s"><v>0</v></c></row>`
	p := writeFile(t, "sst.xlsx", rawWorkbook(t, rows, sst...))
	if fi, err := os.Stat(p); err != nil || fi.Size() > 2<<20 {
		t.Fatalf("the workbook should be small: %v %v", fi.Size(), err)
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r, err := Open(p, OpenOptions{})
	if err == nil {
		_, err = r.Next(context.Background())
		r.Close()
	}
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "shared strings") || !strings.Contains(err.Error(), "zip bomb") {
		t.Fatalf("err = %v, want the shared strings refused as a zip bomb", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("refusing the table allocated %d MiB", alloc>>20)
	}
	// A table of ordinary size still reads.
	ok := writeFile(t, "ok.xlsx", rawWorkbook(t, rows, "fine"))
	r, err = Open(ok, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if rec, err := r.Next(context.Background()); err != nil || rec.Cells[0] != "fine" {
		t.Fatalf("ordinary table: %v %v", rec, err)
	}
}
