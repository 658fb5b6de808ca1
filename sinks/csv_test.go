package sinks

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/udesk-etl/udesk-etl/pipeline"
)

// fileTestCSV is fileTestRows as encoding/csv reads it back. encoding/csv's
// reader turns "\r\n" inside a quoted field into "\n"; the bytes on disk keep
// it (TestCSVKeepsCRLFInFields).
var fileTestCSV = [][]string{
	{"id", "subject", "content", "status", "下拉列表字段", "复选框", "created_at", "日期", "amount", "count", "时间"},
	{"1", "打印机坏了", "第一行\n第二行\n第三行", "open", "选项 A0", "a,b", "2024-03-05T09:07:30+08:00", "2024-02-29", "1.1", "-42", "09:30:00"},
	{"", "", "", "", "", "", "", "", "", "", ""},
	{"3", "'=SUM(A1:A2)", "'-5", "'@cmd", "", "", "", "2023-02-30", "0.3", "12abc", ""},
	{"4", "''quoted", "'\ttab", "'+1", "", "'=x", "1999-12-31T23:59:59+08:00", "1970-01-01", "1000000000000000000000", "9007199254740993", ""},
}

func writeCSV(t *testing.T, opts CSVOptions, rows []pipeline.Row) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "out.csv")
	w, err := NewCSVWriter(path, fileTestSchema(), opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows { // one row per batch: batches must not matter
		if err := w.WriteRows([]pipeline.Row{r}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := w.(pipeline.StatsReporter).Stats(); got != (pipeline.WriterStats{Rows: int64(len(rows)), RawValues: 2}) {
		t.Errorf("Stats = %+v, want 4 rows, 2 raw values", got)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCSVRoundTrip(t *testing.T) {
	b := writeCSV(t, CSVOptions{}, fileTestRows())
	if !bytes.HasPrefix(b, []byte("\uFEFFid,")) {
		t.Fatalf("file starts %q, want a UTF-8 BOM then the header", b[:8])
	}
	r := csv.NewReader(bytes.NewReader(b[3:]))
	got, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(fileTestCSV) {
		t.Fatalf("read %d records, want %d", len(got), len(fileTestCSV))
	}
	for i := range got {
		if !reflect.DeepEqual(got[i], fileTestCSV[i]) {
			t.Errorf("record %d:\n got %q\nwant %q", i+1, got[i], fileTestCSV[i])
		}
	}
}

func TestCSVNoBOM(t *testing.T) {
	b := writeCSV(t, CSVOptions{NoBOM: true}, fileTestRows())
	if !bytes.HasPrefix(b, []byte("id,subject,")) {
		t.Fatalf("file starts %q, want the header without a BOM", b[:12])
	}
}

func TestCSVKeepsCRLFInFields(t *testing.T) {
	b := writeCSV(t, CSVOptions{NoBOM: true}, fileTestRows())
	lines := strings.SplitAfter(string(b), "\r\n")
	if lines[0] != strings.Join(fileTestCSV[0], ",")+"\r\n" {
		t.Errorf("header line %q, want CRLF-terminated header", lines[0])
	}
	if !strings.Contains(string(b), "\"第一行\r\n第二行\n第三行\"") {
		t.Errorf("multi-line field not written verbatim:\n%q", b)
	}
	if !strings.Contains(string(b), "\r\n,,,,,,,,,,\r\n") {
		t.Errorf("empty row not written as bare commas:\n%q", b)
	}
	// A lone CR survives too (encoding/csv's writer with UseCRLF drops it).
	rows := fileTestRows()
	rows[0].Values[colSubject] = "a\rb\"c"
	b = writeCSV(t, CSVOptions{NoBOM: true}, rows)
	if !strings.Contains(string(b), "\"a\rb\"\"c\"") {
		t.Errorf("lone CR or quote not kept verbatim:\n%q", b)
	}
}

// TestCSVNoFormulaEscape: a file for analysis holds text as it is.
func TestCSVNoFormulaEscape(t *testing.T) {
	got, err := csv.NewReader(bytes.NewReader(writeCSV(t, CSVOptions{NoFormulaEscape: true, NoBOM: true}, fileTestRows()))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"3", "=SUM(A1:A2)", "-5", "@cmd", "", "", "", "2023-02-30", "0.3", "12abc", ""},
		{"4", "'quoted", "\ttab", "+1", "", "=x", "1999-12-31T23:59:59+08:00", "1970-01-01", "1000000000000000000000", "9007199254740993", ""},
	}
	if !reflect.DeepEqual(got[3:], want) {
		t.Errorf("rows\n got %q\nwant %q", got[3:], want)
	}
}

// TestCSVCopy: Commit puts a private byte-for-byte copy at CSVOptions.Copy
// first (more than the write buffer, so that the copy is not only what was
// buffered); Abort leaves neither file.
func TestCSVCopy(t *testing.T) {
	dir := t.TempDir()
	path, copyPath := filepath.Join(dir, "out.csv"), filepath.Join(dir, "state", "orig.csv")
	if err := os.Mkdir(filepath.Dir(copyPath), 0o700); err != nil {
		t.Fatal(err)
	}
	w, err := NewCSVWriter(path, fileTestSchema(), CSVOptions{Copy: copyPath})
	if err != nil {
		t.Fatal(err)
	}
	for range 5000 {
		if err := w.WriteRows(fileTestRows()); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := os.ReadFile(copyPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 1<<20 || !bytes.Equal(out, cp) {
		t.Errorf("copy of %d bytes, file of %d: want the same bytes (over 1 MiB)", len(cp), len(out))
	}
	if fi, err := os.Stat(copyPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("copy mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}

	aborted := filepath.Join(dir, "aborted.csv")
	w, err = NewCSVWriter(aborted, fileTestSchema(), CSVOptions{Copy: aborted + ".orig"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteRows(fileTestRows()); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{aborted, aborted + ".orig"} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s after Abort: %v", filepath.Base(p), err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 { // out.csv and state, nothing else
		t.Errorf("left in the folder: %v", entries)
	}
}
