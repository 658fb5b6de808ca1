package sources

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"golang.org/x/text/encoding/simplifiedchinese"
)

func TestCSVReadsRowsWithNumbersAndCRLFInQuotes(t *testing.T) {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.UseCRLF = true
	w.WriteAll([][]string{
		{"subject", "多行文本字段", "priority"},
		{"工单一", "多行文本内容1\r\n多行文本内容2", "紧急"},
	})
	b.WriteString("\r\n") // blank line: skipped, but counted
	b.WriteString("工单二,x,\r\n")
	p := writeFile(t, "in.csv", append(append([]byte{}, utf8BOM...), b.Bytes()...))
	r, err := Open(p, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, want := r.Header(), []string{"subject", "多行文本字段", "priority"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("header %q, want %q (BOM must be stripped)", got, want)
	}
	recs, errs := readAll(t, r)
	if len(errs) != 0 {
		t.Fatalf("row errors: %v", errs)
	}
	if len(recs) != 2 {
		t.Fatalf("got %d records", len(recs))
	}
	if recs[0].Pos.Row != 2 || recs[0].Cells[1] != "多行文本内容1\r\n多行文本内容2" {
		t.Errorf("record 1 = %+v, want row 2 with \\r\\n kept", recs[0])
	}
	if recs[1].Pos.Row != 4 || !reflect.DeepEqual(recs[1].Cells, []string{"工单二", "x", ""}) {
		t.Errorf("record 2 = %+v, want row 4 as a spreadsheet shows it (lines 2-3 hold record 1, row 2; line 4 is blank, row 3)", recs[1])
	}
}

func TestCSVGBK(t *testing.T) {
	text := "主题,内容\r\n工单,中文内容\r\n"
	for _, enc := range []string{"", "gbk", "gb18030"} {
		gbk, err := simplifiedchinese.GBK.NewEncoder().String(text)
		if err != nil {
			t.Fatal(err)
		}
		p := writeFile(t, "gbk.csv", []byte(gbk))
		r, err := Open(p, OpenOptions{Encoding: enc})
		if err != nil {
			t.Fatalf("encoding %q: %v", enc, err)
		}
		recs, _ := readAll(t, r)
		r.Close()
		if !reflect.DeepEqual(r.Header(), []string{"主题", "内容"}) || len(recs) != 1 || recs[0].Cells[1] != "中文内容" {
			t.Errorf("encoding %q: header %q records %+v", enc, r.Header(), recs)
		}
	}
}

func TestCSVOpenErrors(t *testing.T) {
	gbkLine, _ := simplifiedchinese.GBK.NewEncoder().String("工单,内容\n")
	for _, tc := range []struct {
		name, data, enc, want string
	}{
		{"empty", "", "", "empty file"},
		{"blank lines only", "\n\r\n\n", "", "no header row"},
		{"duplicate headers", "Subject,id, sub JECT \n", "", `duplicate column names "Subject" (column 1) and "sub JECT" (column 3)`},
		{"empty header name", "a,,b\n", "", "header column 2 has no name"},
		{"mixed utf-8 then gbk", "主题,内容\n一,二\n" + gbkLine, "", "line 3 is not UTF-8 but line 1 is"},
		{"mixed gbk then utf-8", gbkLine + "a,b\n主题,内容\n", "", "line 3 is UTF-8 but line 1 is not"},
		{"forced utf-8", "a,b\n" + gbkLine, "utf-8", "line 2 is not valid UTF-8"},
		{"unknown encoding", "a\n", "latin1", `unknown encoding "latin1"`},
		{"utf-16", "\xff\xfea\x00", "", "UTF-16"},
		{"header with bare quote", "a\"b,c\n", "", "bare \""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, "x.csv", []byte(tc.data))
			_, err := Open(p, OpenOptions{Encoding: tc.enc})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Fatalf("err = %v, want it to name the file and say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
	if _, err := Open("/nonexistent/x.csv", OpenOptions{}); err == nil || !strings.Contains(err.Error(), "/nonexistent/x.csv") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Open(writeFile(t, "x.txt", []byte("a\n")), OpenOptions{}); err == nil || !strings.Contains(err.Error(), "unsupported file type") {
		t.Errorf("unsupported extension: %v", err)
	}
}

func TestCSVRowErrorsAndRecovery(t *testing.T) {
	data := "a,b\n" + // 1
		"1,2\n" + // 2
		"1,2,3\n" + // 3: ragged
		"x\"y,2\n" + // 4: bare quote
		"\"ok\"z,2\n" + // 5: text after a closing quote
		"5,6\n" + // 6
		"7\n" + // 7: ragged, a cell short
		"9,\n" + // 8: an empty last cell is a cell
		"11,12,,\n" // 9: trailing empty cells are not ragged
	p := writeFile(t, "e.csv", []byte(data))
	r, err := Open(p, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	recs, errs := readAll(t, r)
	var rows []int
	for _, rec := range recs {
		rows = append(rows, rec.Pos.Row)
	}
	if want := []int{2, 6, 8, 9}; !reflect.DeepEqual(rows, want) {
		t.Errorf("good rows %v, want %v", rows, want)
	}
	wantErrs := []struct {
		row  int
		text string
	}{
		{3, "row 3: the row has 3 cells but the header has 2 columns"},
		{4, `line 4, column 2: bare "`},
		{5, `line 5, column 4: extraneous or missing "`},
		{7, "row 7: the row has 1 cells but the header has 2 columns"},
	}
	if len(errs) != len(wantErrs) {
		t.Fatalf("row errors %v, want %d", errs, len(wantErrs))
	}
	for i, w := range wantErrs {
		if errs[i].Pos.Row != w.row || !strings.Contains(errs[i].Error(), w.text) || errs[i].Pos.File != p {
			t.Errorf("error %d = %v, want row %d saying %q", i, errs[i], w.row, w.text)
		}
	}
	var ragged *RaggedRowError
	if !errors.As(errs[3], &ragged) || *ragged != (RaggedRowError{Cells: 1, Columns: 2}) {
		t.Errorf("row 7's error %#v, want a *RaggedRowError", errs[3].Err)
	}
}

// TestCSVMissingCellIsNotEmpty: a row a cell short is refused, not read as
// if its last cell were empty (a ticket was once created from a row whose
// email cell was missing).
func TestCSVMissingCellIsNotEmpty(t *testing.T) {
	r, err := Open(writeFile(t, "m.csv", []byte("subject,content,email\nhello,world\n")), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rec, err := r.Next(context.Background())
	var re *pipeline.RowError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "m.csv row 2: the row has 2 cells but the header has 3 columns") {
		t.Errorf("short row: %v %q, want a ragged row error", err, rec.Cells)
	}
}

// TestCSVUnclosedQuoteRefusesTheFile: a quote that never closes makes the
// rows after it ambiguous, so the file is refused before any row is read,
// naming the line where the quote opened; whatever the encoding.
func TestCSVUnclosedQuoteRefusesTheFile(t *testing.T) {
	data := "a,b\n1,2\n\"\"\"ok\"\"\",\"多行\r\n文本\"\nx,\"never closed\n5,6\n7,8\n"
	for _, enc := range []string{"", "utf-8", "gbk"} {
		r, err := Open(writeFile(t, "q.csv", []byte(data)), OpenOptions{Encoding: enc})
		if err == nil {
			r.Close()
			t.Errorf("encoding %q: opened, want the file refused", enc)
			continue
		}
		if !strings.Contains(err.Error(), "q.csv: line 5: a quoted field opens here and is never closed") {
			t.Errorf("encoding %q: %v", enc, err)
		}
	}
}

// An unparsable row comes back with its text as read, so that the error
// file shows the row to fix: split at each comma, the last cell taking what
// is beyond the header's width.
func TestCSVUnparsableRowKeepsItsText(t *testing.T) {
	data := "a,b,c\n" +
		"p,q\"r,s,t,u\n" +
		"x,\"closed\"late,z@example.com\r\n" +
		"ok,1,2\n"
	r, err := Open(writeFile(t, "raw.csv", []byte(data)), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got [][]string
	for {
		rec, err := r.Next(context.Background())
		if err == io.EOF {
			break
		}
		var re *pipeline.RowError
		if errors.As(err, &re) {
			got = append(got, rec.Cells)
		}
	}
	want := [][]string{{"p", `q"r`, "s,t,u"}, {"x", `"closed"late`, "z@example.com"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cells of the bad rows %q, want %q", got, want)
	}
}

func TestCSVHeaderOnly(t *testing.T) {
	r, err := Open(writeFile(t, "h.csv", []byte("a,b\r\n")), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if recs, errs := readAll(t, r); len(recs)+len(errs) != 0 {
		t.Errorf("header-only file gave %v %v", recs, errs)
	}
}

// csvRecords parses with our parser, the way encoding/csv would see the
// result: line endings inside fields as "\n", all-empty records kept.
func parseOurs(data []byte) (recs [][]string, errLine int) {
	p := &csvParser{br: bufio.NewReader(bytes.NewReader(data))}
	for {
		f, _, err := p.next()
		if err == io.EOF {
			return recs, 0
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return recs, pe.StartLine
		}
		for i := range f {
			f[i] = strings.ReplaceAll(f[i], "\r\n", "\n")
		}
		recs = append(recs, f)
	}
}

func parseStd(data []byte) (recs [][]string, errLine int) {
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	for {
		f, err := r.Read()
		if err == io.EOF {
			return recs, 0
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return recs, pe.StartLine
		}
		recs = append(recs, f)
	}
}

// unclosedQuoteLine is where the parser finds a quoted field never closed,
// reading on past other errors; 0 when it finds none.
func unclosedQuoteLine(data []byte) int {
	p := &csvParser{br: bufio.NewReader(bytes.NewReader(data))}
	for {
		_, _, err := p.next()
		var pe *csv.ParseError
		switch {
		case errors.As(err, &pe) && pe.Err == errUnclosedQuote:
			return pe.Line
		case err == io.EOF:
			return 0
		}
	}
}

// scanUnclosedQuote is quoteScan's answer for data.
func scanUnclosedQuote(data []byte) int {
	var q quoteScan
	for n, line := range bytes.SplitAfter(data, []byte("\n")) {
		q.line(line, n+1)
	}
	if q.inQuote {
		return q.openLine
	}
	return 0
}

// FuzzCSVParser checks the parser against encoding/csv: the same records up
// to the first error, which starts on the same line; and OpenCSV's quote
// scan against the parser: the same quote found never closed.
func FuzzCSVParser(f *testing.F) {
	for _, s := range []string{
		"a,b\n1,2\n", "\"a\r\nb\",c\r\n", "a,\"b\"\"c\"\n\n\nd", "\"x\ny", "a\"b\n", "\"a\"b\n", "\r\n\r", "a,b\r",
		"\"a\r\"\n", "é,\"多行\r\n文本\"\r\n,\n", "\"\"\"\",\r\r\n", "a\rb,c",
		"a\"b,\"c\n", "\"a\"x,\"b\n1\n", "\"a\nb\"\"\n\"c\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if p, q := unclosedQuoteLine(data), scanUnclosedQuote(data); p != q {
			t.Fatalf("input %q: the parser finds a quote never closed at line %d, the scan at line %d", data, p, q)
		}
		std, stdErr := parseStd(data)
		ours, ourErr := parseOurs(data)
		if !reflect.DeepEqual(std, ours) && !(len(std) == 0 && len(ours) == 0) || stdErr != ourErr {
			t.Fatalf("input %q:\nencoding/csv %q (error at line %d)\nours         %q (error at line %d)", data, std, stdErr, ours, ourErr)
		}
	})
}

func TestCSVQuotedFieldLongerThanBuffer(t *testing.T) {
	long := strings.Repeat("长", 200_000) + "\r\n" + strings.Repeat("x", 300_000)
	data := fmt.Sprintf("a,b\n\"%s\",2\n3,4\n", long)
	r, err := Open(writeFile(t, "l.csv", []byte(data)), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	recs, errs := readAll(t, r)
	if len(errs) != 0 || len(recs) != 2 || recs[0].Cells[0] != long || recs[1].Pos.Row != 3 { // the spreadsheet row
		t.Fatalf("errs %v, %d records, row of last %v", errs, len(recs), recs[len(recs)-1].Pos)
	}
}

func BenchmarkCSV100k(b *testing.B) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write([]string{"id", "subject", "content", "status", "priority", "created_at", "多行文本"})
	for i := 0; i < 100_000; i++ {
		w.Write([]string{fmt.Sprint(i), "工单主题 " + fmt.Sprint(i), "这是工单的内容, with some text", "open", "紧急", "2024-01-02 15:04:05 +0800", "第一行\r\n第二行"})
	}
	w.Flush()
	p := writeFile(b, "bench.csv", buf.Bytes())
	b.SetBytes(int64(buf.Len()))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := Open(p, OpenOptions{})
		if err != nil {
			b.Fatal(err)
		}
		recs, _ := readAll(b, r)
		r.Close()
		if len(recs) != 100_000 {
			b.Fatal(len(recs))
		}
	}
	b.ReportMetric(float64(100_000*b.N)/b.Elapsed().Seconds(), "rows/s")
}
