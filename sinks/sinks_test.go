package sinks

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/pipeline"
)

var cst = time.FixedZone("CST", 8*3600)

// fileTestSchema has a column of every kind, read-only columns, a short and a
// long drop-down list, and metadata.
func fileTestSchema() pipeline.Schema {
	long := make([]string, 60)
	for i := range long {
		long[i] = "选项 " + strings.Repeat("x", i%7) + string(rune('A'+i%26)) + string(rune('0'+i/26))
	}
	return pipeline.Schema{
		Columns: []pipeline.Column{
			{Name: "id", Field: "id", Kind: pipeline.Int64, ReadOnly: true},
			{Name: "subject", Field: "subject", Kind: pipeline.String},
			{Name: "content", Field: "content", Kind: pipeline.String},
			{Name: "status", Field: "status", Kind: pipeline.String, Options: []string{"open", "solved", "closed"}},
			{Name: "下拉列表字段", Field: "SelectField_1", Kind: pipeline.String, Options: long},
			{Name: "复选框", Field: "CheckboxField_1", Kind: pipeline.StringList, Options: []string{"a", "b", "c"}},
			{Name: "created_at", Field: "created_at", Kind: pipeline.Timestamp, ReadOnly: true},
			{Name: "日期", Field: "DateField_1", Kind: pipeline.Date},
			{Name: "amount", Field: "NumericField_1", Kind: pipeline.Float64},
			{Name: "count", Field: "NumberField_1", Kind: pipeline.Int64},
			{Name: "时间", Field: "TimeField_1", Kind: pipeline.TimeOfDay},
		},
		Meta: map[string]string{"udesk.catalog": `{"ticket_fields":[{"field_name":"SelectField_1"}]}`, "run": "test"},
	}
}

const (
	colID = iota
	colSubject
	colContent
	colStatus
	colSelect
	colCheckbox
	colCreated
	colDate
	colAmount
	colCount
	colTime
)

// fileTestRows: a full row with Chinese, CRLF and formula-looking text; an
// empty row; a row with raw values; a row with odd text.
func fileTestRows() []pipeline.Row {
	return []pipeline.Row{
		{Values: []any{int64(1), "打印机坏了", "第一行\r\n第二行\n第三行", "open", "选项 A0", []string{"a", "b"},
			time.Date(2024, 3, 5, 9, 7, 30, 0, cst), time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), 1.1, int64(-42), "09:30:00"}},
		{Values: make([]any, 11)},
		{Values: []any{int64(3), "=SUM(A1:A2)", "-5", "@cmd", nil, []string{}, nil, nil, 0.3, nil, nil},
			Raw: map[int]string{colCount: "12abc", colDate: "2023-02-30"}},
		{Values: []any{int64(4), "'quoted", "\ttab", "+1", nil, []string{"=x"}, time.Date(1999, 12, 31, 23, 59, 59, 0, cst),
			time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), 1e21, int64(9007199254740993), nil}},
	}
}

// writerCase builds each file writer the same way for the tests they share.
type writerCase struct {
	ext string
	new func(path string, s pipeline.Schema) (pipeline.RowWriter, error)
}

var fileWriters = []writerCase{
	{".csv", func(p string, s pipeline.Schema) (pipeline.RowWriter, error) { return NewCSVWriter(p, s, CSVOptions{}) }},
	{".jsonl", NewJSONLWriter},
	{".parquet", NewParquetWriter},
	{".xlsx", func(p string, s pipeline.Schema) (pipeline.RowWriter, error) {
		return NewXLSXWriter(p, s, XLSXOptions{})
	}},
}

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestCommitRenamesIntoPlace(t *testing.T) {
	for _, wc := range fileWriters {
		t.Run(wc.ext, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "out"+wc.ext)
			w, err := wc.new(path, fileTestSchema())
			if err != nil {
				t.Fatal(err)
			}
			if err := w.WriteRows(fileTestRows()); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Fatalf("before Commit: stat %s = %v, want not exist", path, err)
			}
			names := dirEntries(t, dir)
			if len(names) != 1 || !strings.HasPrefix(names[0], ".out"+wc.ext+".tmp-") {
				t.Fatalf("before Commit: dir holds %q, want one .out%s.tmp-* file", names, wc.ext)
			}
			if err := w.Commit(); err != nil {
				t.Fatal(err)
			}
			if names := dirEntries(t, dir); len(names) != 1 || names[0] != "out"+wc.ext {
				t.Fatalf("after Commit: dir holds %q, want only out%s", names, wc.ext)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if want := 0o666 &^ currentUmask(); fi.Mode().Perm() != want {
				t.Errorf("mode %v, want %v (0666 less the umask)", fi.Mode().Perm(), want)
			}
			if err := w.Abort(); err != nil {
				t.Errorf("Abort after Commit: %v, want nil (no-op)", err)
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("Abort after Commit removed the output: %v", err)
			}
			if err := w.WriteRows(fileTestRows()); err == nil {
				t.Error("WriteRows after Commit succeeded, want an error")
			}
		})
	}
}

func TestAbortLeavesNothing(t *testing.T) {
	for _, wc := range fileWriters {
		t.Run(wc.ext, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "out"+wc.ext)
			w, err := wc.new(path, fileTestSchema())
			if err != nil {
				t.Fatal(err)
			}
			if err := w.WriteRows(fileTestRows()); err != nil {
				t.Fatal(err)
			}
			if err := w.Abort(); err != nil {
				t.Fatal(err)
			}
			if names := dirEntries(t, dir); len(names) != 0 {
				t.Fatalf("after Abort: dir holds %q, want nothing", names)
			}
			if err := w.Commit(); err == nil {
				t.Error("Commit after Abort succeeded, want an error")
			}
		})
	}
}

func TestCommitKeepsExistingFileUntilRename(t *testing.T) {
	for _, wc := range fileWriters {
		t.Run(wc.ext, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out"+wc.ext)
			if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			w, err := wc.new(path, fileTestSchema())
			if err != nil {
				t.Fatal(err)
			}
			if err := w.WriteRows(fileTestRows()); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(path); string(b) != "old" {
				t.Fatalf("before Commit the old file changed to %d bytes", len(b))
			}
			if err := w.Abort(); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(path); string(b) != "old" {
				t.Fatalf("Abort changed the old file to %d bytes", len(b))
			}
		})
	}
}

func TestWritersRejectMismatchedValues(t *testing.T) {
	for _, wc := range fileWriters {
		t.Run(wc.ext, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out"+wc.ext)
			w, err := wc.new(path, fileTestSchema())
			if err != nil {
				t.Fatal(err)
			}
			defer w.Abort()
			rows := fileTestRows()
			rows[1].Values[colCount] = "7" // a string in an Int64 column
			err = w.WriteRows(rows)
			if err == nil || !strings.Contains(err.Error(), `row 2 column "count"`) {
				t.Fatalf("WriteRows = %v, want an error naming row 2 column \"count\"", err)
			}
			short := pipeline.Row{Values: []any{int64(1)}}
			if err := w.WriteRows([]pipeline.Row{short}); err == nil || !strings.Contains(err.Error(), "has 1 values, want 11") {
				t.Fatalf("WriteRows(short row) = %v, want a count error", err)
			}
		})
	}
}

func TestDuplicateColumnNames(t *testing.T) {
	s := pipeline.Schema{Columns: []pipeline.Column{{Name: "a"}, {Name: "b"}, {Name: "a"}}}
	for _, wc := range fileWriters {
		path := filepath.Join(t.TempDir(), "out"+wc.ext)
		if _, err := wc.new(path, s); err == nil || !strings.Contains(err.Error(), `duplicate column name "a" (columns 1 and 3)`) {
			t.Errorf("%s: err = %v, want duplicate column error", wc.ext, err)
		}
	}
}

func TestNewWriterByExtension(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		want any
	}{
		{"a.parquet", &parquetWriter{}}, {"a.XLSX", &xlsxWriter{}}, {"a.csv", &csvWriter{}},
		{"a.jsonl", &jsonlWriter{}}, {"a.ndjson", &jsonlWriter{}},
	} {
		w, err := NewWriter(filepath.Join(dir, tc.name), fileTestSchema(), Options{})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got, want := fmt.Sprintf("%T", w), fmt.Sprintf("%T", tc.want); got != want {
			t.Errorf("%s: writer %s, want %s", tc.name, got, want)
		}
		_ = w.Abort()
	}
	var stdout bytes.Buffer
	w, err := NewWriter("-", fileTestSchema(), Options{Stdout: &stdout})
	if err != nil {
		t.Fatal(err)
	}
	if jw, ok := w.(*jsonlWriter); !ok || jw.tmp != nil {
		t.Errorf(`NewWriter("-") = %T, want a JSON lines writer to the stream`, w)
	}
	if err := w.WriteRows([]pipeline.Row{{Values: make([]any, len(fileTestSchema().Columns))}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil || !strings.HasPrefix(stdout.String(), "{") {
		t.Errorf(`NewWriter("-") wrote %q to Options.Stdout (%v), want a JSON line`, stdout.String(), err)
	}
	if _, err := NewWriter("-", fileTestSchema(), Options{}); err == nil {
		t.Error(`NewWriter("-") without Options.Stdout: no error`)
	}
	if _, err := NewWriter(filepath.Join(dir, "a.txt"), fileTestSchema(), Options{}); err == nil || !strings.Contains(err.Error(), `unknown output format ".txt"`) {
		t.Errorf("NewWriter(a.txt) = %v, want an unknown format error", err)
	}
	if names := dirEntries(t, dir); len(names) != 0 {
		t.Errorf("dir holds %q after aborts", names)
	}
}

func TestSplitUTF16(t *testing.T) {
	s := "ab😀c中"
	if n := utf16Len(s); n != 6 {
		t.Fatalf("utf16Len = %d, want 6", n)
	}
	got := splitUTF16(s, 3)
	want := []string{"ab", "😀c", "中"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("splitUTF16 = %q, want %q", got, want)
	}
}

func currentUmask() os.FileMode {
	m := syscall.Umask(0)
	syscall.Umask(m)
	return os.FileMode(m)
}

// TestOutputModeFollowsUmask: an export is created 0666 less the umask, so a
// umask of 077 keeps ticket data private; the private CSV copy stays 0600.
func TestOutputModeFollowsUmask(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	for _, umask := range []int{0o077, 0o022} {
		syscall.Umask(umask)
		for _, wc := range fileWriters {
			path := filepath.Join(t.TempDir(), "out"+wc.ext)
			w, err := wc.new(path, fileTestSchema())
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Commit(); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if want := os.FileMode(0o666 &^ umask); fi.Mode().Perm() != want {
				t.Errorf("umask %03o %s: mode %v, want %v", umask, wc.ext, fi.Mode().Perm(), want)
			}
		}
		path := filepath.Join(t.TempDir(), "copy.csv")
		w, err := NewCSVWriter(path, fileTestSchema(), CSVOptions{Private: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("umask %03o: private copy %v %v, want mode 0600", umask, fi.Mode(), err)
		}
	}
}
