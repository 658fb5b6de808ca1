package sources

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

// testWorkbook writes a workbook as our exporter and Excel users make them: a
// hidden _udesk_meta sheet first, a data sheet, and a second visible sheet.
func testWorkbook(t testing.TB) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(f.SetSheetName("Sheet1", MetaSheet))
	_, err := f.NewSheet("数据")
	must(err)
	_, err = f.NewSheet("其他")
	must(err)
	must(f.SetSheetRow(MetaSheet, "A1", &[]any{"key", "value"}))
	must(f.SetSheetRow(MetaSheet, "A2", &[]any{"udesk.catalog", `{"ticket_fields":[]}`}))
	must(f.SetSheetVisible(MetaSheet, false))
	f.SetActiveSheet(1)

	ymd := "yyyy/m/d"
	dateStyle, err := f.NewStyle(&excelize.Style{CustomNumFmt: &ymd})
	must(err)
	timeStyle, err := f.NewStyle(&excelize.Style{NumFmt: 21}) // h:mm:ss
	must(err)
	dtStyle, err := f.NewStyle(&excelize.Style{NumFmt: 22}) // m/d/yy h:mm
	must(err)
	cnDate, err := f.NewStyle(&excelize.Style{NumFmt: 31}) // yyyy"年"m"月"d"日"
	must(err)
	money, err := f.NewStyle(&excelize.Style{NumFmt: 4}) // #,##0.00
	must(err)

	s := "数据"
	must(f.SetSheetRow(s, "A1", &[]any{"subject", "日期", "时间", "创建时间", "中文日期", "金额", "布尔", "多行文本"}))
	must(f.SetSheetRow(s, "A2", &[]any{"工单一", 45292.0, 0.5, 45292.75, 45293.0, 13.329999999999998, true, "第一行\r\n第二行"}))
	must(f.SetCellStyle(s, "B2", "B2", dateStyle))
	must(f.SetCellStyle(s, "C2", "C2", timeStyle))
	must(f.SetCellStyle(s, "D2", "D2", dtStyle))
	must(f.SetCellStyle(s, "E2", "E2", cnDate))
	must(f.SetCellStyle(s, "F2", "F2", money))
	// row 3 left empty; row 4 has a typed date and a plain big number
	must(f.SetCellValue(s, "A4", "工单二"))
	must(f.SetCellValue(s, "B4", time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)))
	must(f.SetCellStyle(s, "B4", "B4", dateStyle))
	must(f.SetCellValue(s, "F4", 1e20))
	must(f.SetCellValue(s, "G4", false))
	// row 5 is ragged
	must(f.SetSheetRow(s, "A5", &[]any{"工单三", nil, nil, nil, nil, nil, nil, nil, "extra"}))
	must(f.SetSheetRow("其他", "A1", &[]any{"id"}))
	must(f.SetSheetRow("其他", "A2", &[]any{7}))
	var b bytes.Buffer
	if _, err := f.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	// excelize writes 15 significant digits; Excel writes 17, float noise included.
	return rezip(t, b.Bytes(), "<v>13.3299999999999</v>", "<v>13.329999999999998</v>")
}

// rezip replaces old with new in every entry of a zip.
func rezip(t testing.TB, data []byte, old, new string) []byte {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, f := range zr.File {
		rc, _ := f.Open()
		content, _ := io.ReadAll(rc)
		w, _ := zw.Create(f.Name)
		w.Write(bytes.ReplaceAll(content, []byte(old), []byte(new)))
	}
	zw.Close()
	return b.Bytes()
}

func TestXLSXReadsFirstDataSheet(t *testing.T) {
	p := writeFile(t, "in.xlsx", testWorkbook(t))
	r, err := Open(p, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if want := []string{"subject", "日期", "时间", "创建时间", "中文日期", "金额", "布尔", "多行文本"}; !reflect.DeepEqual(r.Header(), want) {
		t.Fatalf("header %q, want %q (the hidden meta sheet must be skipped)", r.Header(), want)
	}
	meta := r.(MetaReader).Meta()
	if !reflect.DeepEqual(meta, map[string]string{"udesk.catalog": `{"ticket_fields":[]}`}) {
		t.Errorf("meta %v", meta)
	}
	recs, errs := readAll(t, r)
	if len(recs) != 2 || len(errs) != 1 {
		t.Fatalf("records %v, errors %v", recs, errs)
	}
	want := []string{"工单一", "2024-01-01", "12:00:00", "2024-01-01 18:00:00", "2024-01-02", "13.33", "TRUE", "第一行\r\n第二行"}
	if recs[0].Pos.Row != 2 || recs[0].Pos.Sheet != "数据" || !reflect.DeepEqual(recs[0].Cells, want) {
		t.Errorf("row: %+v\nwant cells %q", recs[0], want)
	}
	want = []string{"工单二", "2024-03-05", "", "", "", "100000000000000000000", "FALSE"}
	if recs[1].Pos.Row != 4 || !reflect.DeepEqual(recs[1].Cells, want) {
		t.Errorf("row: %+v\nwant cells %q", recs[1], want)
	}
	if e := errs[0]; e.Pos.Row != 5 || !strings.Contains(e.Error(), `sheet "数据" row 5: the row has 9 cells but the header has 8 columns`) {
		t.Errorf("ragged row error: %v", e)
	}
}

func TestXLSXNamedSheetAndErrors(t *testing.T) {
	p := writeFile(t, "in.xlsx", testWorkbook(t))
	r, err := Open(p, OpenOptions{Sheet: "其他"})
	if err != nil {
		t.Fatal(err)
	}
	recs, _ := readAll(t, r)
	r.Close()
	if len(recs) != 1 || recs[0].Cells[0] != "7" || recs[0].Pos.Sheet != "其他" {
		t.Errorf("sheet 其他: %+v", recs)
	}
	_, err = Open(p, OpenOptions{Sheet: "Tickets"})
	if err == nil || !strings.Contains(err.Error(), `no sheet named "Tickets"; its sheets are "数据", "其他"`) {
		t.Errorf("wrong sheet: %v", err)
	}

	emptyWB := excelize.NewFile()
	var b bytes.Buffer
	emptyWB.WriteTo(&b)
	dup := excelize.NewFile()
	dup.SetSheetRow("Sheet1", "A1", &[]any{"ID", "Id "})
	var d bytes.Buffer
	dup.WriteTo(&d)
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"csv named xlsx", []byte("a,b\n1,2\n"), "not an XLSX file"},
		{"zip without workbook", zipOf(t, map[string]string{"a.txt": "x"}), "not an XLSX workbook"},
		{"empty sheet", b.Bytes(), `sheet "Sheet1": no header row`},
		{"duplicate header", d.Bytes(), `duplicate column names "ID" (column 1) and "Id" (column 2)`},
	} {
		p := writeFile(t, "x.xlsx", tc.data)
		_, err := Open(p, OpenOptions{})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v, want it to name the file and say %q", tc.name, err, tc.want)
		}
	}
}

func zipOf(t testing.TB, files map[string]string) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for name, s := range files {
		w, _ := zw.Create(name)
		io.WriteString(w, s)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// bombZip builds a workbook whose sheet is a valid XML document of
// 3+extraMiB MiB of spaces, a few KB per GiB on disk: a 1 MiB run of spaces
// deflates to the same bytes each time once the window is full of spaces, so
// those bytes are repeated instead of compressing gigabytes.
func bombZip(t testing.TB, extraMiB int) []byte {
	head, tail := []byte(`<worksheet><sheetData>`), []byte(`</sheetData></worksheet>`)
	chunk := bytes.Repeat([]byte{' '}, 1<<20)
	var comp bytes.Buffer
	fw, _ := flate.NewWriter(&comp, flate.BestCompression)
	crc := crc32.Update(0, crc32.IEEETable, head)
	fw.Write(head)
	var blocks [3][]byte
	for i := range blocks {
		mark := comp.Len()
		fw.Write(chunk)
		fw.Flush()
		blocks[i] = append([]byte(nil), comp.Bytes()[mark:]...)
		crc = crc32.Update(crc, crc32.IEEETable, chunk)
	}
	if !bytes.Equal(blocks[1], blocks[2]) {
		t.Fatal("deflate blocks of spaces differ; cannot build the bomb")
	}
	for i := 0; i < extraMiB; i++ {
		comp.Write(blocks[2])
		crc = crc32.Update(crc, crc32.IEEETable, chunk)
	}
	fw.Write(tail)
	fw.Close()
	crc = crc32.Update(crc, crc32.IEEETable, tail)
	size := uint64(len(head)+len(tail)) + uint64(3+extraMiB)<<20

	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, err := zw.CreateRaw(&zip.FileHeader{Name: "xl/worksheets/sheet1.xml", Method: zip.Deflate,
		CRC32: crc, CompressedSize64: uint64(comp.Len()), UncompressedSize64: size})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(comp.Bytes())
	zw.Close()
	return b.Bytes()
}

func TestXLSXZipBombBuilderIsReal(t *testing.T) {
	data := bombZip(t, 5)
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := zr.File[0].Open()
	n, err := io.Copy(io.Discard, rc) // checks the size and the CRC
	if err != nil || n != 8<<20+46 {
		t.Fatalf("expanded %d bytes, err %v", n, err)
	}
}

func TestXLSXZipBombRefused(t *testing.T) {
	data := bombZip(t, 4700) // expands to about 4.6 GiB
	if len(data) > 16<<20 {
		t.Fatalf("bomb is %d bytes on disk", len(data))
	}
	p := writeFile(t, "bomb.xlsx", data)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Open(p, OpenOptions{})
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "zip bomb") || !strings.Contains(err.Error(), p) {
		t.Fatalf("err = %v", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 32<<20 {
		t.Errorf("refusing the bomb allocated %d bytes", alloc)
	}
}

func TestFormatNumberAndKinds(t *testing.T) {
	for f, want := range map[float64]string{13.329999999999998: "13.33", 0.1 + 0.2: "0.3", 42: "42", -1.5e-7: "-0.00000015", 123456789012: "123456789012"} {
		if got := formatNumber(f); got != want {
			t.Errorf("formatNumber(%v) = %q, want %q", f, got, want)
		}
	}
	for code, want := range map[string]cellKind{
		"yyyy/m/d": kindDate, "yyyy-mm-dd hh:mm:ss": kindDateTime, "h:mm AM/PM": kindTime, "[h]:mm:ss": kindTime,
		`0.00"days"`: kindNumber, "#,##0.00;[Red]-#,##0.00": kindNumber, "General": kindNumber, `[$-F800]dddd, mmmm dd, yyyy`: kindDate,
		`yyyy"年"m"月"d"日"`: kindDate, "mmm": kindDate, `0.0\h`: kindNumber,
	} {
		if got := formatKind(code); got != want {
			t.Errorf("formatKind(%q) = %d, want %d", code, got, want)
		}
	}
}

// FuzzXLSX opens arbitrary bytes as a workbook: errors are fine, panics and
// hangs are not.
func FuzzXLSX(f *testing.F) {
	f.Add(testWorkbook(f))
	f.Add(zipOf(f, map[string]string{"xl/workbook.xml": "<workbook/>"}))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := dir + "/f.xlsx"
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := Open(p, OpenOptions{})
		if err != nil {
			return
		}
		defer r.Close()
		for i := 0; i < 1000; i++ {
			if _, err := r.Next(t.Context()); err == io.EOF {
				break
			}
		}
	})
}

func BenchmarkXLSX100k(b *testing.B) {
	f := excelize.NewFile()
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		b.Fatal(err)
	}
	ymd := "yyyy-mm-dd hh:mm:ss"
	dt, _ := f.NewStyle(&excelize.Style{CustomNumFmt: &ymd})
	sw.SetRow("A1", []any{"id", "subject", "content", "status", "priority", "created_at", "多行文本"})
	for i := 0; i < 100_000; i++ {
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		sw.SetRow(cell, []any{i, "工单主题 " + fmt.Sprint(i), "这是工单的内容, with some text", "open", "紧急",
			excelize.Cell{StyleID: dt, Value: 45292.5 + float64(i)/1000}, "第一行\r\n第二行"})
	}
	sw.Flush()
	p := b.TempDir() + "/bench.xlsx"
	if err := f.SaveAs(p); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := Open(p, OpenOptions{})
		if err != nil {
			b.Fatal(err)
		}
		recs, _ := readAll(b, r)
		r.Close()
		if len(recs) != 100_000 || recs[0].Cells[5] != "2024-01-01 12:00:00" {
			b.Fatal(len(recs), recs[0].Cells)
		}
	}
	b.ReportMetric(float64(100_000*b.N)/b.Elapsed().Seconds(), "rows/s")
}
